// Package backend decides what a trial runs on and creates it: the backend named by the
// --backend flag, $GOMLX_BACKEND or the spec (go, xla, xla:cpu, xla:cuda or a PJRT plugin's
// path), the PJRT plugin found for XLA and the CUDA setup it needs, the go backend's kernels,
// the convolution that suits them, and the gradient of DotGeneral that every graph uses.
//
// A backend is named by a Choice: the configuration a trial records (and hashes) and the
// go backend's Kernel. The kernel is part of the backend's name, go:stock for GoMLX's own
// kernels, plain go for the fast ones (internal/gokernels), so that it is passed down with
// the backend rather than read from a switch: the engine is given a Choice, creates its
// Backend with New and asks that Backend which kernel ran and which convolution to build.
// The kernel is not part of the trial's configuration, so a trial has the same hash on
// either kernel; a run records its kernel in its environment (MatmulEnvKey) and
// RecordedKernel reads it back for a rerun or a resume.
//
// The fast kernels are hooked into GoMLX's executor table, which is one per process: New
// puts the kernel of the backend it creates in place for every go backend of the process,
// and Select puts it back for a caller that alternates two backends (the kernel
// benchmark). Nothing here runs in an init: New installs the DotGeneral gradient (once per
// process) and turns off XLA's plugin download before it creates an XLA backend.
package backend
