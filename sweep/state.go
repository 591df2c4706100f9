package sweep

import (
	"fmt"
	"os"

	"github.com/ddpm-runner/ddpm-runner/results"
)

// TrialState is what a trial's shard says about it.
type TrialState struct {
	Index  int    // 1-based
	Status string // the shard's newest run's status, a finished or diverged one first; "" without a shard or run
	RunID  int64  // that run's id in the shard
	Err    error  // the shard could not be read
}

// Done says whether a trial needs no more work: it finished, or it diverged (a trial is
// deterministic, so running it again would diverge again).
func (s TrialState) Done() bool {
	return s.Status == results.StatusFinished || s.Status == results.StatusDiverged
}

// States reads every trial's shard.
func (f *Folder) States() []TrialState {
	out := make([]TrialState, f.Trials)
	for k := 1; k <= f.Trials; k++ {
		out[k-1] = f.state(k)
	}
	return out
}

func (f *Folder) state(k int) TrialState {
	st := TrialState{Index: k}
	path := f.Shard(k)
	if _, err := os.Lstat(path); err != nil {
		return st
	}
	real, err := results.Confine(f.Dir, path)
	if err != nil {
		st.Err = err
		return st
	}
	s, err := results.OpenReadOnly(real)
	if err != nil {
		st.Err = err
		return st
	}
	defer s.Close()
	runs, err := s.Runs(results.Filter{})
	if err != nil {
		st.Err = fmt.Errorf("%s: %w", path, err)
		return st
	}
	for i := len(runs) - 1; i >= 0; i-- {
		r := runs[i]
		if r.Status == results.StatusFinished || r.Status == results.StatusDiverged {
			st.Status, st.RunID = r.Status, r.ID
			return st
		}
		if st.Status == "" {
			st.Status, st.RunID = r.Status, r.ID
		}
	}
	return st
}
