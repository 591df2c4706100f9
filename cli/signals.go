package cli

import (
	"os"
	"os/signal"
	"syscall"
)

// stopSignals are the signals that stop a command the way it stops cleanly (a run
// checkpoints and records itself interrupted, a merge leaves the database as it was, a report
// removes its temporary files): SIGINT (Ctrl-C), SIGTERM (kill, a scheduler), and SIGHUP (the
// terminal closed, the ssh connection lost), which would otherwise end the process where it
// stands. SIGHUP is left out when the process was started with it ignored (nohup), since
// watching it would undo that: the command must then outlive its terminal.
func stopSignals() []os.Signal {
	sigs := []os.Signal{os.Interrupt, syscall.SIGTERM}
	if !signal.Ignored(syscall.SIGHUP) {
		sigs = append(sigs, syscall.SIGHUP)
	}
	return sigs
}
