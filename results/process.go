package results

import (
	"encoding/json"
	"fmt"
	"os"
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

// Process reads a run's recorded process; ok is false for a run without one (recorded
// before runs kept it).
func (s *Store) Process(id int64) (rec ProcessRecord, ok bool, err error) {
	path, err := s.ArtifactPath(id, ProcessArtifact)
	if err != nil || path == "" {
		return rec, false, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return rec, false, err
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		return rec, false, fmt.Errorf("run %d: %s: %w", id, ProcessArtifact, err)
	}
	return rec, true, nil
}
