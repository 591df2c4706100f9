// Package plugins holds the registry of ddpm-runner's plugins, the plugin kinds, and the
// small contracts that each kind implements. It is where a plugin author starts.
//
// It follows database/sql: a plugin package calls Register from its init function, and a
// program blank-imports the plugin packages it wants (plugins/builtin imports every shipped
// one) before calling cli.Main. The registry never imports a plugin, so imports only point
// down: runner -> cli, plugin packages -> plugins -> diffusion.
//
// Each kind (KindInfo) says which spec table chooses its plugins and which interface their
// constructors must return; Register checks a plugin's constructor against it at start-up,
// so a wrong type is a panic naming the plugin, never a failed type assertion in the middle
// of a run. A new kind is one RegisterKind call and its contract.
//
// Every plugin declares its parameters (name, type, default, allowed range, one-line doc).
// The spec decoder uses those declarations to reject unknown keys, wrong types and
// out-of-range values, and `runner plugins` prints them. A metric also declares every value
// it reports (Report: which way is better, unit, doc); the report ranks from that.
package plugins
