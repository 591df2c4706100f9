package gokernels

import (
	"math/bits"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// The parts of one op (the row blocks of a product, the chunks of an element-wise pass) run on
// a team: the calling goroutine and GOMAXPROCS-1 helper goroutines that keep spinning for a
// while after each op, waiting for the next one. Two things make this faster than starting a
// goroutine per part:
//
//   - The hand-off costs a store and a load instead of waking an idle thread, which costs more
//     than a part of a small op is worth.
//   - Each part goes to the core whose number it has, where one is free (partHome): part 0 of
//     every op runs on core 0, and so on. An op's output part is then still in that core's
//     cache when the next op reads the same part, as with OpenMP's static schedules in
//     PyTorch. With parts handed to whichever core came first, each element-wise pass over a
//     batch's activations ran no faster on two cores than on one, because half of every
//     operand was in the other core's cache.
//
// Which goroutine runs a part never changes what the part computes, so the results stay the
// same bits whatever the schedule. One op uses the team at a time; an op that finds it busy
// (two graphs running at once, or simplego's parallel mode) starts goroutines of its own.

const (
	// teamSpin is how long a helper keeps looking for the next op before it sleeps. It
	// covers the runs of small ops that one core does alone (the optimizer's dozen ops per
	// weight): a helper woken from sleep can come later than the caller takes long to run
	// its own part and then the helper's too.
	teamSpin = 2 * time.Millisecond
	// maxTeamParts bounds the parts of one op the team takes (one bit each in a mask).
	maxTeamParts = 64
	// spinCheck and spinYield are how many turns of a spin pass between two looks at the
	// clock and between two yields.
	spinCheck = 256
	spinYield = 16 * spinCheck
)

// teamJob is one op's parts.
type teamJob struct {
	part    func(int)
	parts   int
	claimed atomic.Uint64 // bit k: part k is taken
	left    atomic.Int32  // parts not finished
}

// helper is one spinning goroutine of the team.
type helper struct {
	asleep atomic.Bool
	wake   chan struct{} // one token per wake-up, sent by whoever cleared asleep
}

var team struct {
	busy    sync.Mutex // held by the op whose parts the team runs
	current atomic.Pointer[teamJob]
	mu      sync.Mutex // guards helpers
	helpers []*helper
	started atomic.Int32 // len(helpers)
}

// runOnTeam runs part(0) ... part(parts-1) on the team and reports true, or reports false when
// the team is busy with another op or parts is not between 2 and maxTeamParts.
func runOnTeam(parts int, part func(int)) bool {
	if parts < 2 || parts > maxTeamParts || !team.busy.TryLock() {
		return false
	}
	var job *teamJob
	finished := false
	defer func() {
		if !finished && job != nil {
			// A part of the caller's panicked (and may be recovered above): the helpers must
			// not start any part after this returns, nor still be running one, since the
			// caller's buffers go back to their pools.
			all := uint64(1)<<parts - 1
			unclaimed := all &^ job.claimed.Or(all)
			job.left.Add(-int32(bits.OnesCount64(unclaimed)))
			for job.left.Load() > 1 { // the panicking part never counted down
				runtime.Gosched()
			}
		}
		team.busy.Unlock()
	}()
	if int(team.started.Load()) < parts-1 {
		startHelpers(parts - 1)
	}
	job = &teamJob{part: part, parts: parts}
	job.left.Store(int32(parts))
	team.current.Store(job)
	team.mu.Lock()
	helpers := team.helpers
	team.mu.Unlock()
	for i, h := range helpers {
		if i >= parts-1 {
			break
		}
		if h.asleep.CompareAndSwap(true, false) {
			h.wake <- struct{}{}
		}
	}
	job.work()
	for i := 1; job.left.Load() > 0; i++ {
		if i%spinYield == 0 {
			runtime.Gosched()
		}
	}
	// Every part is claimed, so no helper calls part again; dropping it lets the op's
	// operands go while the job stays current.
	job.part = nil
	finished = true
	return true
}

// work runs the parts nobody has taken yet, this core's own part first.
func (j *teamJob) work() {
	home := partHome(j.parts)
	for i := range j.parts {
		k := (home + i) % j.parts
		if bit := uint64(1) << k; j.claimed.Or(bit)&bit == 0 {
			j.part(k)
			j.left.Add(-1)
		}
	}
}

// startHelpers starts helpers until there are at least n.
func startHelpers(n int) {
	team.mu.Lock()
	defer team.mu.Unlock()
	for len(team.helpers) < n {
		h := &helper{wake: make(chan struct{}, 1)}
		team.helpers = append(team.helpers, h)
		go h.loop()
	}
	team.started.Store(int32(len(team.helpers)))
}

// loop takes part in every op it sees, spins for teamSpin after each and then sleeps until an
// op wakes it. The spin reads one atomic pointer; it looks at the clock every spinCheck
// turns and yields every spinYield turns, so that other goroutines keep a share of the core
// and the spin itself stays off the scheduler's locks.
func (h *helper) loop() {
	var seen *teamJob
	idleSince := time.Now()
	for i := 1; ; i++ {
		if job := team.current.Load(); job != seen {
			seen = job
			job.work()
			idleSince, i = time.Now(), 0
			continue
		}
		if i%spinCheck != 0 {
			continue
		}
		if time.Since(idleSince) < teamSpin {
			if i%spinYield == 0 {
				runtime.Gosched()
			}
			continue
		}
		h.asleep.Store(true)
		if team.current.Load() != seen && h.asleep.CompareAndSwap(true, false) {
			continue // an op came before anyone saw this helper asleep
		}
		<-h.wake
		idleSince, i = time.Now(), 0
	}
}
