package results

import (
	"encoding/json"
	"errors"
	"fmt"
)

// ProcessArtifact names the artifact that records a run's resolved diffusion process, so
// that a report draws the schedule the run used rather than rebuilding the schedule plugin
// from parameter strings (which needs the plugin, and the same version of it).
const ProcessArtifact = "process.json"

// ProcessRecord is the content of ProcessArtifact: beta_t and alpha_bar_t for t = 1..T.
type ProcessRecord struct {
	Betas    []float64 `json:"betas"`
	AlphaBar []float64 `json:"alpha_bar"`
}

// maxProcessBytes bounds the process record read back: two numbers per timestep, so even
// T = 100000 stays far below it.
const maxProcessBytes = 64 << 20

// Process reads a run's recorded process; ok is false for a run without one (recorded
// before runs kept it). The record is read through ReadArtifact, so one that points outside
// the run's folder is an error.
func (s *Store) Process(id int64) (rec ProcessRecord, ok bool, err error) {
	b, err := s.ReadArtifact(id, ProcessArtifact, maxProcessBytes)
	if errors.Is(err, ErrNoArtifact) {
		return rec, false, nil
	}
	if err != nil {
		return rec, false, err
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		return rec, false, fmt.Errorf("run %d: %s: %w", id, ProcessArtifact, err)
	}
	return rec, true, nil
}
