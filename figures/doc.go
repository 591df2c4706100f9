// Package figures draws the pictures a run leaves beside its numbers: a grid of sample images
// and, for 2-D data, a scatter of samples over held-out data. It knows nothing of plugins;
// the engine and any metric may use it.
package figures
