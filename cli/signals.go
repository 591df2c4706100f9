package cli

import (
	"os"

	"github.com/ddpm-runner/ddpm-runner/launch"
)

// stopSignals are the signals that stop a command cleanly (see launch.StopSignals).
func stopSignals() []os.Signal { return launch.StopSignals() }
