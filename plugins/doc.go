// Package plugins holds the registry of ddpm-runner's plugins and the small contracts that
// each plugin kind implements.
//
// It follows database/sql: a family package (schedules, predictors, losses, ...) calls
// Register from its init function, and a program blank-imports the families it wants. The
// registry never imports a plugin, so imports only point down: runner -> families -> plugins.
//
// Every plugin declares its parameters (name, type, default, allowed range, one-line doc).
// The spec decoder uses those declarations to reject unknown keys, wrong types and
// out-of-range values, and `runner plugins` prints them.
package plugins
