package faults

import (
	"syscall"
	"testing"
)

// TestJudge pins how a fault is judged from a trace: only a signal that provably landed in
// the aimed phase counts; one that came after the process or the phase had ended is a miss.
func TestJudge(t *testing.T) {
	const (
		exit0  = syscall.WaitStatus(0)
		exit1  = syscall.WaitStatus(1 << 8)
		killed = syscall.WaitStatus(syscall.SIGKILL)
	)
	whole := []string{"phase: train", "phase end: train", "phase: metric.nll", "phase end: metric.nll", "phase: record", "phase end: record"}
	cases := []struct {
		name   string
		trace  []string
		a      aim
		sentIn int // 0: the aimed occurrence
		ws     syscall.WaitStatus
		hit    bool
	}{
		// The finding: SIGKILL sent to a process that had already exited counted as a pass.
		{"kill after the process exited", whole, aim{phase: "metric.nll", nth: 1, sig: syscall.SIGKILL}, 0, exit0, false},
		{"kill after the phase ended", []string{"phase: train", "phase end: train", "phase: metric.nll", "phase end: metric.nll", "phase: record"},
			aim{phase: "metric.nll", nth: 1, sig: syscall.SIGKILL}, 0, killed, false},
		{"kill after the end of the last phase", whole, aim{phase: "record", nth: 1, sig: syscall.SIGKILL}, 0, killed, false},
		{"kill inside the phase", []string{"phase: train", "phase end: train", "phase: metric.nll"},
			aim{phase: "metric.nll", nth: 1, sig: syscall.SIGKILL}, 0, killed, true},
		{"kill inside an earlier occurrence", []string{"phase: checkpoint"},
			aim{phase: "checkpoint", nth: 2, sig: syscall.SIGKILL}, 0, killed, false},
		{"kill inside a later occurrence", []string{"phase: checkpoint", "phase end: checkpoint", "phase: checkpoint", "phase end: checkpoint", "phase: checkpoint"},
			aim{phase: "checkpoint", nth: 2, sig: syscall.SIGKILL}, 0, killed, true},
		{"kill that did not kill", []string{"phase: train"}, aim{phase: "train", nth: 1, sig: syscall.SIGKILL}, 0, exit1, false},
		{"term seen in the phase", []string{"phase: train", "phase end: train", "phase: sample", "phase signalled (SIGTERM): sample", "phase end: sample"},
			aim{phase: "sample", nth: 1, sig: syscall.SIGTERM}, 0, exit1, true},
		{"term seen in another phase", []string{"phase: train", "phase end: train", "phase: sample", "phase end: sample", "phase: record", "phase signalled (SIGTERM): record"},
			aim{phase: "sample", nth: 1, sig: syscall.SIGTERM}, 0, exit0, false},
		{"int seen between phases", append(whole[:len(whole):len(whole)], "phase signalled (SIGINT): -"),
			aim{phase: "record", nth: 1, sig: syscall.SIGINT}, 0, exit0, false},
		{"int never seen", whole, aim{phase: "record", nth: 1, sig: syscall.SIGINT}, 0, exit0, false},
		{"term seen in a later occurrence than it was sent in",
			[]string{"phase: checkpoint", "phase end: checkpoint", "phase: train", "phase end: train", "phase: checkpoint", "phase signalled (SIGTERM): checkpoint"},
			aim{phase: "checkpoint", nth: 1, sig: syscall.SIGTERM}, 1, exit1, false},
		{"term seen in the occurrence it was sent in",
			[]string{"phase: checkpoint", "phase end: checkpoint", "phase: train", "phase end: train", "phase: checkpoint", "phase signalled (SIGTERM): checkpoint"},
			aim{phase: "checkpoint", nth: 1, sig: syscall.SIGTERM}, 2, exit1, true},
		{"another signal seen", []string{"phase: train", "phase signalled (SIGINT): train"}, aim{phase: "train", nth: 1, sig: syscall.SIGTERM}, 0, exit1, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sent := c.sentIn
			if sent == 0 {
				sent = c.a.nth
			}
			hit, why := judge(c.trace, c.a, sent, c.ws)
			if hit != c.hit {
				t.Errorf("judge = %v (%s), want %v", hit, why, c.hit)
			}
			if !hit && why == "" {
				t.Error("a miss without a reason")
			}
		})
	}
}
