package faults

import (
	"syscall"
	"testing"
)

// TestJudge pins how a fault is judged: only a signal that provably landed in the aimed
// phase counts; one that came after the process or the phase had ended is a miss.
func TestJudge(t *testing.T) {
	const (
		exit0  = syscall.WaitStatus(0)
		exit1  = syscall.WaitStatus(1 << 8)
		killed = syscall.WaitStatus(syscall.SIGKILL)
		termed = syscall.WaitStatus(syscall.SIGTERM)
	)
	whole := []string{"phase: train", "phase end: train", "phase: metric.nll", "phase end: metric.nll", "phase: record", "phase end: record"}
	inNLL := []string{"phase: train", "phase end: train", "phase: metric.nll"}
	ckpt3 := []string{"phase: checkpoint", "phase end: checkpoint", "phase: train", "phase end: train", "phase: checkpoint",
		"phase end: checkpoint", "phase: train", "phase end: train", "phase: checkpoint"}
	nll := aim{phase: "metric.nll", nth: 1, sig: syscall.SIGKILL}
	cases := []struct {
		name string
		a    aim
		s    shot
		ws   syscall.WaitStatus
		hit  bool
	}{
		// The finding: SIGKILL sent to a process that had already exited counted as a pass.
		{"kill after the process exited", nll, shot{k: 1, after: whole}, exit0, false},
		{"kill after the phase ended", nll, shot{k: 1, after: append(inNLL, "phase end: metric.nll", "phase: record")}, killed, false},
		{"kill after the end of the last phase", aim{phase: "record", nth: 1, sig: syscall.SIGKILL}, shot{k: 1, after: whole}, killed, false},
		{"kill inside the phase", nll, shot{k: 1, after: inNLL, alive: true}, killed, true},
		{"kill inside the phase, the process gone when looked at", nll, shot{k: 1, after: inNLL}, killed, true},
		{"kill that did not kill", nll, shot{k: 1, after: inNLL, alive: true}, exit1, false},
		// A process that ended inside a phase without ending it (a crash) was not alive.
		{"kill after a crash inside the phase", nll, shot{k: 1, after: inNLL}, exit1, false},
		{"kill in a later occurrence than it was sent in", aim{phase: "checkpoint", nth: 2, sig: syscall.SIGKILL},
			shot{k: 2, after: ckpt3, alive: true}, killed, false},
		{"kill in the occurrence it was sent in", aim{phase: "checkpoint", nth: 2, sig: syscall.SIGKILL},
			shot{k: 3, after: ckpt3, alive: true}, killed, true},
		{"term inside the phase", aim{phase: "metric.nll", nth: 1, sig: syscall.SIGTERM}, shot{k: 1, after: inNLL, alive: true}, exit1, true},
		{"term inside the phase, handled at once", aim{phase: "metric.nll", nth: 1, sig: syscall.SIGTERM}, shot{k: 1, after: inNLL}, exit1, false},
		{"term that killed inside the phase", aim{phase: "metric.nll", nth: 1, sig: syscall.SIGTERM}, shot{k: 1, after: inNLL}, termed, true},
		{"term after the phase ended", aim{phase: "metric.nll", nth: 1, sig: syscall.SIGTERM},
			shot{k: 1, after: append(inNLL, "phase end: metric.nll"), alive: true}, exit1, false},
		{"int after the process exited", aim{phase: "record", nth: 1, sig: syscall.SIGINT}, shot{k: 1, after: whole}, exit0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hit, why := judge(c.a, c.s, c.ws)
			if hit != c.hit {
				t.Errorf("judge = %v (%s), want %v", hit, why, c.hit)
			}
			if !hit && why == "" {
				t.Error("a miss without a reason")
			}
		})
	}
}
