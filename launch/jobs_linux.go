package launch

import "syscall"

// childProcAttr makes the kernel send a --jobs child SIGTERM when its parent dies, however
// it dies (kill -9 included), so that the child checkpoints and stops instead of training
// on as an orphan.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
