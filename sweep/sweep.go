// Package sweep keeps a sweep folder: the trials of one or more specs submitted together to
// a launcher (Slurm, or anything that runs one command per trial index), each trial with
// its own shard database, merged into a main database afterwards.
//
// A sweep folder holds:
//
//	sweep.json          what was submitted: spec copies and their sha256, --set overrides,
//	                    backend, trial count, working folder, the runner's sha256, Slurm
//	                    options and job ids, sealed (see below)
//	specs/K/            the K-th spec file as submitted; every task reads these, so editing the
//	                    originals cannot change a queued trial
//	bin/runner          the runner binary that submitted (tasks run this one)
//	job.sbatch          the Slurm batch script (one array task per trial index)
//	shards/trial-K.db   trial K's database, with its artifacts in shards/trial-K/
//	logs/trial-K.out    trial K's output under Slurm
//
// A sweep folder often lives on a shared file system where others may write, and what it
// holds is run as the submitting user. So sweep.json carries a seal: an HMAC-SHA256 of its
// contents under a key kept outside the folder, in the user's configuration folder
// (KeyPath). Open refuses a folder whose sweep.json does not match its seal, whose runner
// binary or spec copies do not match the sha256 sealed in it, whose paths leave the folder,
// or whose trial count is not what its specs expand to; job.sbatch checks the binary and the
// spec copies again before each task runs them.
package sweep

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/ddpm-runner/ddpm-runner/internal/atomicfile"
	"github.com/ddpm-runner/ddpm-runner/spec"
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
	Extra       []string `json:"extra,omitempty"`        // more #SBATCH options, one each
}

// Job is one submitted job array.
type Job struct {
	ID        string `json:"id"`
	Indices   string `json:"indices"` // the array's indices, as sbatch --array takes them
	Submitted string `json:"submitted"`
}

// Manifest is what sweep.json records.
type Manifest struct {
	Name         string   `json:"name"`
	Created      string   `json:"created"`
	Specs        []Spec   `json:"specs"`
	Sets         []string `json:"sets,omitempty"`
	Backend      string   `json:"backend,omitempty"`
	Trials       int      `json:"trials"`
	Workdir      string   `json:"workdir"`
	Runner       string   `json:"runner"` // relative to the sweep folder
	RunnerSHA256 string   `json:"runner_sha256"`
	Slurm        Slurm    `json:"slurm"`
	Jobs         []Job    `json:"jobs,omitempty"`
}

// Folder is an open sweep folder.
type Folder struct {
	Dir string // absolute
	Manifest
	trials []*spec.Trial // what the spec copies expand to, in trial order
}

// runnerPath is where Create puts the runner binary, relative to the sweep folder.
var runnerPath = filepath.Join("bin", "runner")

// Create makes a new sweep folder at dir (which must not exist, or be empty) with copies of
// the spec files and of the runner binary, and seals its sweep.json. Every value that will
// reach job.sbatch or a task's command line is checked first, so a refused sweep writes
// nothing; the folder is assembled beside dir and renamed into place, so a failed one
// leaves nothing behind either.
func Create(dir string, specFiles, sets []string, backend string, trials int, runnerBinary string, slurm Slurm) (*Folder, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if entries, err := os.ReadDir(abs); err == nil && len(entries) > 0 {
		return nil, fmt.Errorf("sweep folder %s already exists and is not empty; give another --sweep (or use --resume %s)", abs, abs)
	}
	wd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	f := &Folder{Dir: abs, Manifest: Manifest{
		Name: filepath.Base(abs), Created: time.Now().UTC().Format(time.RFC3339), Sets: sets, Backend: backend,
		Trials: trials, Workdir: wd, Runner: runnerPath, Slurm: slurm,
	}}
	for i, src := range specFiles {
		if err := checkSpecFileName(src); err != nil {
			return nil, err
		}
		srcAbs, err := filepath.Abs(src)
		if err != nil {
			return nil, err
		}
		// A folder per spec keeps two specs of one name apart and the file name as it was:
		// a spec without a name is named after its file.
		f.Specs = append(f.Specs, Spec{Source: srcAbs, Copy: filepath.Join("specs", strconv.Itoa(i+1), filepath.Base(src))})
	}
	if err := f.validate(); err != nil {
		return nil, err
	}
	key, _, err := loadKey(true)
	if err != nil {
		return nil, err
	}

	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		return nil, fmt.Errorf("sweep folder: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(abs), "."+filepath.Base(abs)+".creating-")
	if err != nil {
		return nil, fmt.Errorf("sweep folder: %w", err)
	}
	done := false
	defer func() {
		if !done {
			os.RemoveAll(tmp)
		}
	}()
	for _, sub := range []string{"specs", "bin", "shards", "logs"} {
		if err := os.Mkdir(filepath.Join(tmp, sub), 0o755); err != nil {
			return nil, fmt.Errorf("sweep folder: %w", err)
		}
	}
	for i, src := range specFiles {
		b, err := os.ReadFile(src)
		if err != nil {
			return nil, err
		}
		cp := f.Specs[i].Copy
		if err := os.Mkdir(filepath.Join(tmp, filepath.Dir(cp)), 0o755); err != nil {
			return nil, err
		}
		if _, err := atomicfile.WriteNew(context.Background(), filepath.Join(tmp, cp), bytes.NewReader(b), 0o644); err != nil {
			return nil, err
		}
		f.Specs[i].SHA256 = sha256Hex(b)
	}
	if f.RunnerSHA256, err = copyExecutable(runnerBinary, filepath.Join(tmp, f.Runner)); err != nil {
		return nil, fmt.Errorf("copying the runner binary: %w", err)
	}
	if err := writeSealed(tmp, key, &f.Manifest); err != nil {
		return nil, err
	}
	// rename(2) replaces an empty folder: the sweep appears whole or not at all.
	if err := os.Rename(tmp, abs); err != nil {
		return nil, fmt.Errorf("sweep folder: %w", err)
	}
	done = true
	return f, nil
}

// Save writes sweep.json, sealed, atomically.
func (f *Folder) Save() error {
	key, _, err := loadKey(false)
	if err != nil {
		return err
	}
	return writeSealed(f.Dir, key, &f.Manifest)
}

// Shard is trial k's (1-based) shard database.
func (f *Folder) Shard(k int) string {
	return filepath.Join(f.Dir, "shards", "trial-"+strconv.Itoa(k)+".db")
}

// TaskArgs is the command line (runner binary first) that runs trial k into its shard.
func (f *Folder) TaskArgs(k int) []string {
	return f.taskArgs(strconv.Itoa(k))
}

// taskArgs is TaskArgs with the index as text: the script passes a marker that it replaces
// with the shell's $k.
func (f *Folder) taskArgs(index string) []string {
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

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// copyExecutable copies src to dst (a new file) and returns the sha256 of what it wrote.
func copyExecutable(src, dst string) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	h := sha256.New()
	if _, err := atomicfile.WriteNew(context.Background(), dst, io.TeeReader(in, h), 0o755); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
