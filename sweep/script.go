package sweep

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/ddpm-runner/ddpm-runner/internal/atomicfile"
	"github.com/ddpm-runner/ddpm-runner/internal/shell"
)

// Two readers see what is written into job.sbatch. Bash runs the script: its words are
// written by shell.Quote, the one quoting of this project's printed commands and scripts.
// Sbatch reads the #SBATCH lines, with a tokenizer of its own that is not a shell's (it
// blanks "hetjob" and "packjob" anywhere in a line, ends an argument at an unescaped '#',
// and takes a backslash as an escape even inside single quotes in some versions): their
// values are written by sbatchArg, in the one form that every sbatch version reads back
// exactly. Neither reader can hold a newline or other control character in a value, so
// validate refuses those, naming the flag and what it takes, before anything is written.

// Script is the sbatch script of the sweep's job arrays: each array task checks that the
// runner binary and the spec copies are those submitted, then runs its trial index with
// `runner run --resume`, so a requeued or resubmitted task continues its trial. The array
// indices are given to sbatch (--array) when it is submitted.
func (f *Folder) Script() (string, error) {
	if err := f.validate(); err != nil {
		return "", err
	}
	if err := f.checkSums(); err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("#!/bin/bash\n")
	line := func(arg string) { b.WriteString("#SBATCH " + sbatchArg(arg) + "\n") }
	line("--job-name=" + jobName("ddpm-"+f.Name))
	line("--output=" + filepath.Join(f.Dir, "logs", "trial-%a.out"))
	line("--chdir=" + f.Workdir)
	// Requeued on pre-emption or node failure; SIGTERM before the time limit lets the
	// runner checkpoint and record the run as interrupted, and the requeued task resumes it.
	line("--requeue")
	line("--signal=B:TERM@" + strconv.Itoa(f.Slurm.GraceSecs))
	if f.Slurm.Partition != "" {
		line("--partition=" + f.Slurm.Partition)
	}
	if f.Slurm.Time != "" {
		line("--time=" + f.Slurm.Time)
	}
	if f.Slurm.CPUs > 0 {
		line("--cpus-per-task=" + strconv.Itoa(f.Slurm.CPUs))
	}
	if f.Slurm.Mem != "" {
		line("--mem=" + f.Slurm.Mem)
	}
	if f.Slurm.Gres != "" {
		line("--gres=" + f.Slurm.Gres)
	}
	for _, e := range f.Slurm.Extra {
		line(extraOption(e))
	}
	b.WriteString("\nk=$SLURM_ARRAY_TASK_ID\n")
	b.WriteString(`case $k in ''|*[!0-9]*) echo "job.sbatch: SLURM_ARRAY_TASK_ID is not a trial index" >&2; exit 2;; esac` + "\n")
	b.WriteString("# Others may write to the sweep folder: run only the binary and spec copies that were\n")
	b.WriteString("# submitted, with the sha256 recorded then.\n")
	check := []string{"printf", `%s  %s\n`, f.RunnerSHA256, filepath.Join(f.Dir, f.Runner)}
	for _, s := range f.Specs {
		check = append(check, s.SHA256, filepath.Join(f.Dir, s.Copy))
	}
	b.WriteString(shell.Join(check) + " | sha256sum -c --quiet - >&2 ||\n")
	b.WriteString("\t{ echo " + shell.Quote("job.sbatch: the runner binary or a spec copy changed after submission; not running") + " >&2; exit 2; }\n")
	b.WriteString("# exec: the runner itself receives Slurm's signals.\n")
	args := f.taskArgs(indexMarker)
	words := make([]string, len(args))
	for i, a := range args {
		// The trial index is the shell's $k (checked to be digits above); all else is literal.
		parts := strings.Split(a, indexMarker)
		for j, p := range parts {
			if p != "" || len(parts) == 1 {
				parts[j] = shell.Quote(p)
			}
		}
		words[i] = strings.Join(parts, `"$k"`)
	}
	b.WriteString("exec " + strings.Join(words, " ") + "\n")
	return b.String(), nil
}

// indexMarker stands for the trial index in taskArgs while the script is written. It is a
// NUL byte, which validate refuses in every value, so it cannot collide with one.
const indexMarker = "\x00"

// WriteScript writes job.sbatch and returns its path.
func (f *Folder) WriteScript() (string, error) {
	s, err := f.Script()
	if err != nil {
		return "", err
	}
	return filepath.Join(f.Dir, "job.sbatch"), atomicfile.Write(filepath.Join(f.Dir, "job.sbatch"), []byte(s), 0o755)
}

// sbatchArg writes one argument of an #SBATCH line so that sbatch reads it back exactly:
// bare when it holds only characters sbatch gives no meaning to, else in double quotes with
// a backslash before each backslash, quote and '#' (old sbatch versions know only double
// quotes, newer ones take backslash escapes everywhere; this form means the same to both).
// v must pass checkSbatchValue.
func sbatchArg(v string) string {
	plain := v != ""
	for i := 0; i < len(v) && plain; i++ {
		c := v[i]
		plain = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_-./:=,@+%", c) >= 0
	}
	if plain {
		return v
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(v); i++ {
		if c := v[i]; c == '\\' || c == '"' || c == '\'' || c == '#' {
			b.WriteByte('\\')
		}
		b.WriteByte(v[i])
	}
	b.WriteByte('"')
	return b.String()
}

// jobName keeps a job name to characters sbatch takes without quoting.
func jobName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r == '.' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, s)
}

// extraOption is an --sbatch value as the option it names: a leading "#SBATCH" is dropped.
func extraOption(e string) string {
	return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(e), "#SBATCH"))
}

// checkSbatchValue says why v cannot be an argument of an #SBATCH line: a control character
// (a newline would end the line and start a command), or a word sbatch itself rewrites.
func checkSbatchValue(v string) error {
	if err := shell.Check(v); err != nil {
		return err
	}
	low := strings.ToLower(v)
	for _, w := range []string{"hetjob", "packjob"} {
		if strings.Contains(low, w) {
			return fmt.Errorf("sbatch reads %q anywhere in an #SBATCH line as a job separator", w)
		}
	}
	return nil
}

var (
	// Slurm's time limit forms: minutes, minutes:seconds, hours:minutes:seconds, days-hours,
	// days-hours:minutes, days-hours:minutes:seconds, or no limit.
	slurmTimeRE = regexp.MustCompile(`^([0-9]{1,9}(:[0-9]{1,2}){0,2}|[0-9]{1,6}-[0-9]{1,2}(:[0-9]{1,2}){0,2}|(?i:infinite|unlimited))$`)
	slurmMemRE  = regexp.MustCompile(`^[0-9]{1,15}[KMGTkmgt]?$`)
	jobIDRE     = regexp.MustCompile(`^[0-9]{1,20}$`)
	arraySpecRE = regexp.MustCompile(`^[0-9][0-9,-]*(%[0-9]+)?$`)
)

// maxGrace is the most seconds before the time limit that sbatch --signal takes.
const maxGrace = 65535

// Validate checks the Slurm options as the flags that set them: no control characters, no
// whitespace where Slurm takes none, forms Slurm accepts, positive numbers.
func (s Slurm) Validate() error {
	words := []struct{ flag, value, valid string }{
		{"--partition", s.Partition, "a partition name, or several separated by commas (for example cpu or gpu,cpu)"},
		{"--time", s.Time, "a time limit such as 30 (minutes), 2:00:00 or 1-12:00:00"},
		{"--mem", s.Mem, "a memory size such as 8G, 500M or 16000 (megabytes)"},
		{"--gres", s.Gres, "generic resources such as gpu:1 or gpu:a100:2"},
	}
	for _, w := range words {
		if w.value == "" {
			continue
		}
		err := checkSbatchValue(w.value)
		if err == nil && strings.ContainsAny(w.value, " \u00a0") {
			err = fmt.Errorf("it holds a space")
		}
		if err == nil && w.flag == "--time" && !slurmTimeRE.MatchString(w.value) {
			err = fmt.Errorf("not a form Slurm takes")
		}
		if err == nil && w.flag == "--mem" && !slurmMemRE.MatchString(w.value) {
			err = fmt.Errorf("not a form Slurm takes")
		}
		if err != nil {
			return fmt.Errorf("%s %q: %v; give %s", w.flag, w.value, err, w.valid)
		}
	}
	if s.CPUs < 0 {
		return fmt.Errorf("--cpus-per-task %d: give a positive number of CPUs per task", s.CPUs)
	}
	if s.MaxParallel < 0 {
		return fmt.Errorf("--max-parallel %d: give the most tasks to run at once, or 0 for no cap", s.MaxParallel)
	}
	if s.GraceSecs < 1 || s.GraceSecs > maxGrace {
		return fmt.Errorf("--signal-grace %d: give the seconds before the time limit at which tasks get SIGTERM, 1 to %d", s.GraceSecs, maxGrace)
	}
	for _, e := range s.Extra {
		opt := extraOption(e)
		err := checkSbatchValue(e)
		if err == nil && !strings.HasPrefix(opt, "-") {
			err = fmt.Errorf("not an sbatch option")
		}
		if err != nil {
			return fmt.Errorf("--sbatch %q: %v; give one sbatch option per --sbatch, its value after '=' (for example --sbatch --account=lab)", e, err)
		}
	}
	return nil
}

// checkSpecFileName says why a spec file's name cannot be copied into a sweep folder: the
// copy's path is written into job.sbatch and every task's command line.
func checkSpecFileName(path string) error {
	if err := shell.Check(filepath.Base(path)); err != nil {
		return fmt.Errorf("spec file %q: its name cannot be written into a job script: %v; rename it", path, err)
	}
	return nil
}

// validate checks every value that the sweep writes into job.sbatch or a task's command
// line, as Create is given it or as Open reads it back.
func (f *Folder) validate() error {
	if err := checkSbatchValue(f.Dir); err != nil {
		return fmt.Errorf("sweep folder %q (--sweep): %v; give a --sweep path without it", f.Dir, err)
	}
	// sbatch expands %-patterns in --output (the log of task %a), and a backslash anywhere
	// in the name turns that expansion off.
	if strings.ContainsAny(f.Dir, `%\`) {
		return fmt.Errorf("sweep folder %q (--sweep): sbatch reads '%%' and '\\' in a log path as file name patterns; give a --sweep path without them", f.Dir)
	}
	if err := checkSbatchValue(f.Workdir); err != nil {
		return fmt.Errorf("the working directory %q: %v; submit from a folder whose path has none (it is the tasks' --chdir)", f.Workdir, err)
	}
	for _, s := range f.Specs {
		if err := checkSpecFileName(s.Copy); err != nil {
			return err
		}
	}
	for _, s := range f.Sets {
		if err := shell.Check(s); err != nil {
			return fmt.Errorf("--set %q: %v; a value of --set goes on every task's command line (write a newline in a TOML string as \\n)", s, err)
		}
	}
	if err := shell.Check(f.Backend); err != nil {
		return fmt.Errorf("--backend %q: %v", f.Backend, err)
	}
	if err := f.Slurm.Validate(); err != nil {
		return err
	}
	for _, j := range f.Jobs {
		if !jobIDRE.MatchString(j.ID) || !arraySpecRE.MatchString(j.Indices) {
			return fmt.Errorf("job %q (array %q) is not a Slurm job id and array", j.ID, j.Indices)
		}
	}
	return nil
}

// checkSums says whether the recorded sha256 of the runner and the spec copies are digests:
// they are written into job.sbatch's check.
func (f *Folder) checkSums() error {
	sums := []string{f.RunnerSHA256}
	for _, s := range f.Specs {
		sums = append(sums, s.SHA256)
	}
	for _, h := range sums {
		if len(h) != 64 || strings.Trim(h, "0123456789abcdef") != "" {
			return fmt.Errorf("sha256 %q is not 64 hex digits", h)
		}
	}
	return nil
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

// ValidJobID reports whether id is a Slurm job id as a sweep folder records it: what sbatch
// --parsable prints first. submit checks sbatch's answer with it, so that a folder is never
// saved with an id that Open would refuse.
func ValidJobID(id string) bool { return jobIDRE.MatchString(id) }
