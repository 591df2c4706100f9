package sweep

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/ddpm-runner/ddpm-runner/results"
	"github.com/ddpm-runner/ddpm-runner/spec"
)

// Size caps for what Open reads from a sweep folder: far above any real sweep.json, spec or
// runner binary, and low enough that a planted /dev/zero-like file cannot exhaust memory.
const (
	maxManifestBytes = 8 << 20
	maxRunnerBytes   = 4 << 30
)

// Open reads the sweep folder at dir and checks it whole: sweep.json against its seal, the
// runner binary and every spec copy against their sealed sha256 (each confined to the
// folder), every value that reaches job.sbatch or a command line, and the trial count
// against what the spec copies expand to. Any difference is an error naming what differs.
func Open(dir string) (*Folder, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if st, err := os.Stat(filepath.Join(abs, ManifestName)); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s is not a sweep folder (no %s; runner submit makes one)", dir, ManifestName)
		}
		return nil, err
	} else if st.IsDir() {
		return nil, fmt.Errorf("%s is not a sweep folder (%s is a folder)", dir, ManifestName)
	}
	m, err := readSealed(abs)
	if err != nil {
		return nil, err
	}
	f := &Folder{Dir: abs, Manifest: *m}
	where := filepath.Join(abs, ManifestName)
	if err := errors.Join(f.validate(), f.checkSums()); err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	if f.Runner != runnerPath {
		return nil, fmt.Errorf("%s: runner %q: a sweep's runner is %s in its folder", where, f.Runner, runnerPath)
	}
	if len(f.Specs) == 0 || f.Trials < 1 {
		return nil, fmt.Errorf("%s: no trials recorded", where)
	}
	for _, sub := range []string{"specs", "bin", "shards", "logs"} {
		// Tasks write under shards/ and logs/: a symlink there would send them elsewhere.
		if st, err := os.Lstat(filepath.Join(abs, sub)); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("%s: %s is not a folder of the sweep (a symlink, a file, or missing)", abs, sub)
		}
	}
	if err := f.checkRunner(); err != nil {
		return nil, err
	}
	if err := f.loadSpecs(); err != nil {
		return nil, err
	}
	return f, nil
}

// checkRunner hashes the runner binary, confined to the folder, against its sealed sha256.
func (f *Folder) checkRunner() error {
	in, err := results.OpenConfined(f.Dir, f.Runner, maxRunnerBytes)
	if err != nil {
		return fmt.Errorf("sweep %s: runner binary: %w", f.Dir, err)
	}
	defer in.Close()
	h := sha256.New()
	if _, err := io.Copy(h, in); err != nil {
		return fmt.Errorf("sweep %s: runner binary: %w", f.Dir, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != f.RunnerSHA256 {
		return fmt.Errorf("%s was replaced after submission (sha256 %s, submitted %s)", filepath.Join(f.Dir, f.Runner), got, f.RunnerSHA256)
	}
	return nil
}

// loadSpecs reads each spec copy (confined to the folder, bounded), checks its sha256 and
// expands it with the sweep's --set overrides; the trials must number what was submitted.
// The trials are parsed from the bytes that were checked, not read again.
func (f *Folder) loadSpecs() error {
	f.trials = nil
	for i, s := range f.Specs {
		want := filepath.Join("specs", strconv.Itoa(i+1), filepath.Base(s.Copy))
		if s.Copy != want || filepath.Base(s.Copy) == ".." {
			return fmt.Errorf("%s: spec copy %q: spec %d's copy must be %s/<file name>", filepath.Join(f.Dir, ManifestName), s.Copy, i+1, filepath.Dir(want))
		}
		b, err := results.ReadConfined(f.Dir, s.Copy, spec.MaxSpecBytes)
		if err != nil {
			return fmt.Errorf("sweep %s: spec copy: %w", f.Dir, err)
		}
		if got := sha256Hex(b); got != s.SHA256 {
			return fmt.Errorf("%s was changed after submission (sha256 %s, submitted %s)", filepath.Join(f.Dir, s.Copy), got, s.SHA256)
		}
		ts, err := spec.Parse(filepath.Join(f.Dir, s.Copy), b, f.Sets)
		if err != nil {
			return fmt.Errorf("sweep %s: %w", f.Dir, err)
		}
		f.trials = append(f.trials, ts...)
		if len(f.trials) > f.Trials {
			break
		}
	}
	if len(f.trials) != f.Trials {
		return fmt.Errorf("%s records %d trials, but its specs with its --set overrides expand to %d", filepath.Join(f.Dir, ManifestName), f.Trials, len(f.trials))
	}
	return nil
}

// CheckSpecs says whether the spec copies still have the content that was submitted (Open
// checks this; a long-lived Folder may check again before it submits).
func (f *Folder) CheckSpecs() error {
	return f.loadSpecs()
}

// Trial is trial k (1-based) as the sweep's spec copies define it.
func (f *Folder) Trial(k int) *spec.Trial {
	if k < 1 || k > len(f.trials) {
		return nil
	}
	return f.trials[k-1]
}
