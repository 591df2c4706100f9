//go:build !linux

package launch

import "syscall"

// childProcAttr is nil where the kernel cannot signal a child at its parent's death: the
// child's own watch of its parent (TieToParent) stops it there.
func childProcAttr() *syscall.SysProcAttr { return nil }
