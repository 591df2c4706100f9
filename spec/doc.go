// Package spec reads ddpm-runner's TOML experiment specs: strict decoding against the plugin
// registry's parameter declarations, defaults, --set overrides, and the expansion of seeds
// and [sweep] into trials, each with a canonical form and a hash.
//
// A spec has top-level keys name, description, seeds and backend, one table per plugin kind
// ([data], [schedule], [predictor], [loss], [network], [sample]) whose key name picks the
// plugin and whose other keys are that plugin's parameters (plus a few keys every plugin of
// the kind shares, like T in [schedule]), the fixed tables [train] and [eval], and an
// optional [sweep] of dotted keys to lists of values.
package spec
