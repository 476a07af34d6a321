package e2e

import "syscall"

// sysProcAttr kills a child if the test binary dies first (a panic, a
// timeout), so no hub or collector outlives the run.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
