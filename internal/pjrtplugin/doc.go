// Package pjrtplugin finds the PJRT plugins that GoMLX's XLA backend can load on this
// machine, without downloading anything, and says for each whether it can be used.
//
// Plugins are looked for where GoMLX looks (the folders of $PJRT_PLUGIN_LIBRARY_PATH, else
// ~/.local/lib/go-xla and /usr/local/lib/go-xla, then $LD_LIBRARY_PATH) and, since a GPU
// machine usually has JAX installed, in Python's site-packages, where JAX's plugin wheels
// (jax-cuda12-pjrt, jax-cuda13-pjrt, ...) put jax_plugins/<name>/xla_<platform>_plugin.so.
// Each candidate is probed: its GetPjrtApi is called to read the PJRT C API version it
// speaks, which must have GoMLX's major version and at least its minor version (the API only
// grows within a major version, so an older plugin may lack functions GoMLX calls).
package pjrtplugin
