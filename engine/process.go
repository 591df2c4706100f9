package engine

import (
	"encoding/json"
	"path/filepath"

	"github.com/ddpm-runner/ddpm-runner/internal/atomicfile"
	"github.com/ddpm-runner/ddpm-runner/results"
)

// recordProcess writes the run's process into its folder and lists it as an artifact.
func (r *runner) recordProcess() error {
	b, err := json.Marshal(results.ProcessRecord{Betas: r.job.Diffusion.Betas, AlphaBar: r.job.Diffusion.AlphaBar})
	if err != nil {
		return err
	}
	path := filepath.Join(r.dir, results.ProcessArtifact)
	if err := atomicfile.Write(path, b, 0o644); err != nil {
		return err
	}
	return r.opt.Store.AddArtifact(r.id, results.ProcessArtifact, path)
}
