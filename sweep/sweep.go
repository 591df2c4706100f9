// Package sweep keeps a sweep folder: the trials of one or more specs submitted together to
// a launcher (Slurm, or anything that runs one command per trial index), each trial with
// its own shard database, merged into a main database afterwards.
//
// A sweep folder holds:
//
//	sweep.json          what was submitted: spec copies and their sha256, --set overrides,
//	                    backend, trial count, working folder, Slurm options and job ids
//	specs/K/            the K-th spec file as submitted; every task reads these, so editing the
//	                    originals cannot change a queued trial
//	bin/runner          the runner binary that submitted (tasks run this one)
//	job.sbatch          the Slurm batch script (one array task per trial index)
//	shards/trial-K.db   trial K's database, with its artifacts in shards/trial-K/
//	logs/trial-K.out    trial K's output under Slurm
package sweep

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ddpm-runner/ddpm-runner/results"
)

// ManifestName is the sweep folder's description file.
const ManifestName = "sweep.json"

// Spec is one submitted spec file.
type Spec struct {
	Source string `json:"source"` // the file as given at submission (absolute)
	Copy   string `json:"copy"`   // its copy, relative to the sweep folder
	SHA256 string `json:"sha256"`
}

// Slurm holds the sbatch options of the sweep's job arrays.
type Slurm struct {
	Partition   string   `json:"partition,omitempty"`
	Time        string   `json:"time,omitempty"`
	CPUs        int      `json:"cpus_per_task,omitempty"`
	Mem         string   `json:"mem,omitempty"`
	Gres        string   `json:"gres,omitempty"`
	MaxParallel int      `json:"max_parallel,omitempty"` // the array's %N
	GraceSecs   int      `json:"signal_grace_seconds"`   // SIGTERM this long before the time limit
	Extra       []string `json:"extra,omitempty"`        // more #SBATCH lines, as given
}

// Job is one submitted job array.
type Job struct {
	ID        string `json:"id"`
	Indices   string `json:"indices"` // the array's indices, as sbatch --array takes them
	Submitted string `json:"submitted"`
}

// Manifest is sweep.json.
type Manifest struct {
	Name    string   `json:"name"`
	Created string   `json:"created"`
	Specs   []Spec   `json:"specs"`
	Sets    []string `json:"sets,omitempty"`
	Backend string   `json:"backend,omitempty"`
	Trials  int      `json:"trials"`
	Workdir string   `json:"workdir"`
	Runner  string   `json:"runner"` // relative to the sweep folder
	Slurm   Slurm    `json:"slurm"`
	Jobs    []Job    `json:"jobs,omitempty"`
}

// Folder is an open sweep folder.
type Folder struct {
	Dir string // absolute
	Manifest
}

// Create makes a new sweep folder at dir (which must not exist, or be empty) with copies of
// the spec files and of the runner binary.
func Create(dir string, specFiles, sets []string, backend string, trials int, runnerBinary string, slurm Slurm) (*Folder, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if entries, err := os.ReadDir(abs); err == nil && len(entries) > 0 {
		return nil, fmt.Errorf("sweep folder %s already exists and is not empty; give another --sweep (or use --resume %s)", abs, abs)
	}
	for _, sub := range []string{"specs", "bin", "shards", "logs"} {
		if err := os.MkdirAll(filepath.Join(abs, sub), 0o755); err != nil {
			return nil, fmt.Errorf("sweep folder: %w", err)
		}
	}
	wd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	f := &Folder{Dir: abs, Manifest: Manifest{
		Name: filepath.Base(abs), Created: time.Now().UTC().Format(time.RFC3339), Sets: sets, Backend: backend,
		Trials: trials, Workdir: wd, Runner: filepath.Join("bin", "runner"), Slurm: slurm,
	}}
	for i, src := range specFiles {
		b, err := os.ReadFile(src)
		if err != nil {
			return nil, err
		}
		srcAbs, _ := filepath.Abs(src)
		// A folder per spec keeps two specs of one name apart and the file name as it was:
		// a spec without a name is named after its file.
		cp := filepath.Join("specs", strconv.Itoa(i+1), filepath.Base(src))
		if err := os.MkdirAll(filepath.Join(abs, filepath.Dir(cp)), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(abs, cp), b, 0o644); err != nil {
			return nil, err
		}
		sum := sha256.Sum256(b)
		f.Specs = append(f.Specs, Spec{Source: srcAbs, Copy: cp, SHA256: hex.EncodeToString(sum[:])})
	}
	if err := copyExecutable(runnerBinary, filepath.Join(abs, f.Runner)); err != nil {
		return nil, fmt.Errorf("copying the runner binary: %w", err)
	}
	return f, f.Save()
}

// Open reads the sweep folder at dir.
func Open(dir string) (*Folder, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(abs, ManifestName))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s is not a sweep folder (no %s; runner submit makes one)", dir, ManifestName)
		}
		return nil, err
	}
	f := &Folder{Dir: abs}
	if err := json.Unmarshal(b, &f.Manifest); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(abs, ManifestName), err)
	}
	if f.Trials < 1 || len(f.Specs) == 0 {
		return nil, fmt.Errorf("%s: no trials recorded", filepath.Join(abs, ManifestName))
	}
	return f, nil
}

// Save writes sweep.json atomically (a temporary file renamed over it).
func (f *Folder) Save() error {
	b, err := json.MarshalIndent(f.Manifest, "", "  ")
	if err != nil {
		return err
	}
	p := filepath.Join(f.Dir, ManifestName)
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

// CheckSpecs says whether the spec copies still have the content that was submitted.
func (f *Folder) CheckSpecs() error {
	for _, s := range f.Specs {
		b, err := os.ReadFile(filepath.Join(f.Dir, s.Copy))
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		if hex.EncodeToString(sum[:]) != s.SHA256 {
			return fmt.Errorf("%s was changed after submission (sha256 %s, submitted %s)", filepath.Join(f.Dir, s.Copy), hex.EncodeToString(sum[:]), s.SHA256)
		}
	}
	return nil
}

// Shard is trial k's (1-based) shard database.
func (f *Folder) Shard(k int) string {
	return filepath.Join(f.Dir, "shards", "trial-"+strconv.Itoa(k)+".db")
}

// TaskArgs is the command line (runner binary first) that runs trial index (a number, or a
// shell variable such as "$SLURM_ARRAY_TASK_ID" when shellVar is set) into its shard.
func (f *Folder) TaskArgs(index string) []string {
	args := []string{filepath.Join(f.Dir, f.Runner), "run", "--resume", "--quiet", "--trial", index,
		"--db", filepath.Join(f.Dir, "shards", "trial-"+index+".db")}
	if f.Backend != "" {
		args = append(args, "--backend", f.Backend)
	}
	for _, s := range f.Sets {
		args = append(args, "--set", s)
	}
	for _, s := range f.Specs {
		args = append(args, filepath.Join(f.Dir, s.Copy))
	}
	return args
}

// ShellCommand is TaskArgs quoted for a POSIX shell; a "$VAR" index stays expandable.
func ShellCommand(args []string) string {
	parts := make([]string, len(args))
	for i, a := range args {
		parts[i] = shellQuote(a)
	}
	return strings.Join(parts, " ")
}

// shellQuote single-quotes a word, leaving $NAME references outside the quotes.
func shellQuote(s string) string {
	var b strings.Builder
	for len(s) > 0 {
		i := strings.Index(s, "$")
		if i < 0 {
			b.WriteString(quoteLiteral(s))
			break
		}
		if i > 0 {
			b.WriteString(quoteLiteral(s[:i]))
		}
		j := i + 1
		for j < len(s) && (s[j] == '_' || s[j] >= 'A' && s[j] <= 'Z' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= '0' && s[j] <= '9') {
			j++
		}
		if j == i+1 {
			b.WriteString(quoteLiteral("$"))
		} else {
			b.WriteString(`"` + s[i:j] + `"`)
		}
		s = s[j:]
	}
	if b.Len() == 0 {
		return "''"
	}
	return b.String()
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// Script is the sbatch script of the sweep's job arrays: each array task runs its trial
// index with `runner run --resume`, so a requeued or resubmitted task continues its trial.
// The array indices are given to sbatch (--array) when it is submitted.
func (f *Folder) Script() string {
	var b strings.Builder
	b.WriteString("#!/bin/bash\n")
	line := func(format string, a ...any) { fmt.Fprintf(&b, "#SBATCH "+format+"\n", a...) }
	line("--job-name=%s", sbatchWord("ddpm-"+f.Name))
	line("--output=%s", filepath.Join(f.Dir, "logs", "trial-%a.out"))
	line("--chdir=%s", f.Workdir)
	// Requeued on pre-emption or node failure; SIGTERM before the time limit lets the
	// runner checkpoint and record the run as interrupted, and the requeued task resumes it.
	line("--requeue")
	line("--signal=B:TERM@%d", f.Slurm.GraceSecs)
	if f.Slurm.Partition != "" {
		line("--partition=%s", f.Slurm.Partition)
	}
	if f.Slurm.Time != "" {
		line("--time=%s", f.Slurm.Time)
	}
	if f.Slurm.CPUs > 0 {
		line("--cpus-per-task=%d", f.Slurm.CPUs)
	}
	if f.Slurm.Mem != "" {
		line("--mem=%s", f.Slurm.Mem)
	}
	if f.Slurm.Gres != "" {
		line("--gres=%s", f.Slurm.Gres)
	}
	for _, e := range f.Slurm.Extra {
		fmt.Fprintf(&b, "#SBATCH %s\n", strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(e), "#SBATCH")))
	}
	b.WriteString("\n# exec: the runner itself receives Slurm's signals.\n")
	b.WriteString("exec " + ShellCommand(f.TaskArgs("$SLURM_ARRAY_TASK_ID")) + "\n")
	return b.String()
}

// sbatchWord keeps a job name to characters sbatch takes without quoting.
func sbatchWord(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r == '.' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, s)
}

// WriteScript writes job.sbatch and returns its path.
func (f *Folder) WriteScript() (string, error) {
	p := filepath.Join(f.Dir, "job.sbatch")
	return p, os.WriteFile(p, []byte(f.Script()), 0o755)
}

// ArraySpec is the value of sbatch --array for the given 1-based indices: ranges where they
// run on ("1-4,7"), with "%N" when at most N may run at once.
func ArraySpec(indices []int, maxParallel int) string {
	var parts []string
	for i := 0; i < len(indices); {
		j := i
		for j+1 < len(indices) && indices[j+1] == indices[j]+1 {
			j++
		}
		if j == i {
			parts = append(parts, strconv.Itoa(indices[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", indices[i], indices[j]))
		}
		i = j + 1
	}
	s := strings.Join(parts, ",")
	if maxParallel > 0 {
		s += "%" + strconv.Itoa(maxParallel)
	}
	return s
}

func copyExecutable(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".tmp"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}

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
	if _, err := os.Stat(path); err != nil {
		return st
	}
	s, err := results.OpenReadOnly(path)
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
