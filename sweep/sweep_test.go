package sweep

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

func TestArraySpec(t *testing.T) {
	cases := []struct {
		indices []int
		max     int
		want    string
	}{
		{[]int{1, 2, 3, 4}, 0, "1-4"},
		{[]int{1, 2, 3, 4}, 2, "1-4%2"},
		{[]int{3}, 1, "3%1"},
		{[]int{1, 3, 4, 5, 9}, 0, "1,3-5,9"},
		{[]int{2, 4, 6}, 0, "2,4,6"},
	}
	for _, c := range cases {
		if got := ArraySpec(c.indices, c.max); got != c.want {
			t.Errorf("ArraySpec(%v, %d) = %q, want %q", c.indices, c.max, got, c.want)
		}
	}
}

// sbatchLine is how sbatch reads the arguments of one #SBATCH line (the text after the
// magic word), modelled on the tokenizers Slurm has shipped: "old" knows only double quotes
// (a toggle) and backslash escapes, and ends an argument at '#' even inside quotes; "new"
// knows both quotes and takes a backslash as an escape even inside single quotes; "sticky"
// is "new" in the versions where a backslash after single quotes is literal. All of them end
// an argument at whitespace outside quotes (an escaped space too) and blank "hetjob" and
// "packjob" anywhere in the line.
func sbatchLine(variant, line string) ([]string, bool) {
	for _, w := range []string{"packjob", "hetjob"} {
		if i := strings.Index(strings.ToLower(line), w); i >= 0 {
			line = line[:i] + strings.Repeat(" ", len(w)) + line[i+len(w):]
		}
	}
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r' }
	var args []string
	p := 0
	for {
		for p < len(line) && isSpace(line[p]) {
			p++
		}
		if p >= len(line) {
			return args, true
		}
		var arg []byte
		escape, quoted := false, false
		var q byte
		for p < len(line) && (quoted || !isSpace(line[p])) && line[p] != '\n' {
			c := line[p]
			if variant == "old" {
				switch {
				case escape:
					escape = false
					arg = append(arg, c)
				case c == '\\':
					escape = true
				case c == '"':
					quoted = !quoted
				case c == '#':
					return append(args, string(arg)), true
				default:
					arg = append(arg, c)
				}
				p++
				continue
			}
			switch {
			case escape:
				escape = false
			case c == '\\' && (variant == "new" || q != '\''):
				escape = true
				p++
				continue
			case quoted:
				if c == q {
					quoted = false
					p++
					continue
				}
			case c == '"' || c == '\'':
				quoted, q = true, c
				p++
				continue
			case c == '#':
				if len(arg) > 0 {
					args = append(args, string(arg))
				}
				return args, true
			}
			arg = append(arg, c)
			p++
		}
		if quoted && variant != "old" {
			return nil, false // sbatch: "Unmatched quote"
		}
		if len(arg) > 0 || variant != "old" {
			args = append(args, string(arg))
		}
		if p >= len(line) || line[p] == '\n' {
			return args, true
		}
	}
}

// checkScript reads a job script as sbatch and bash would, and fails unless its #SBATCH
// lines are exactly wantOptions, one argument each in every sbatch variant, and its exec line
// runs exactly f.TaskArgs(index) after checking exactly the runner and spec copies.
func checkScript(t testing.TB, f *Folder, script string, wantOptions []string) {
	t.Helper()
	lines := strings.Split(script, "\n")
	var got []string
	for _, l := range lines {
		if !strings.HasPrefix(l, "#SBATCH") {
			continue
		}
		for _, v := range []string{"old", "new", "sticky"} {
			args, ok := sbatchLine(v, strings.TrimPrefix(l, "#SBATCH"))
			if !ok || len(args) != 1 {
				t.Fatalf("%s sbatch reads %q as %q (ok %v), want one argument", v, l, args, ok)
			}
			if v == "old" {
				got = append(got, args[0])
			} else if args[0] != got[len(got)-1] {
				t.Fatalf("sbatch versions read %q differently: %q, %q", l, got[len(got)-1], args[0])
			}
		}
	}
	if !reflect.DeepEqual(got, wantOptions) {
		t.Fatalf("sbatch reads the options\n%q\nwant\n%q\nscript:\n%s", got, wantOptions, script)
	}
	// The #SBATCH block must be the script's first lines after the shebang: sbatch stops
	// reading options at the first command.
	for i, l := range lines[1 : 1+len(got)] {
		if !strings.HasPrefix(l, "#SBATCH ") {
			t.Fatalf("line %d of the script is %q, want an #SBATCH line", i+2, l)
		}
	}
	dir := t.TempDir()
	checked := filepath.Join(dir, "checked")
	stub := "exec() { for a in \"$@\"; do printf '%s\\0' \"$a\"; done; exit 0; }\n" +
		"sha256sum() { cat > " + checked + "; }\n"
	cmd := exec.Command("bash", "-c", stub+script)
	cmd.Env = append(os.Environ(), "SLURM_ARRAY_TASK_ID=7")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("bash could not run the script: %v\n%s", err, script)
	}
	words := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	if want := f.TaskArgs(7); !reflect.DeepEqual(words, want) {
		t.Fatalf("the script runs\n%q\nwant\n%q\nscript:\n%s", words, want, script)
	}
	wantSums := f.RunnerSHA256 + "  " + filepath.Join(f.Dir, f.Runner) + "\n"
	for _, s := range f.Specs {
		wantSums += s.SHA256 + "  " + filepath.Join(f.Dir, s.Copy) + "\n"
	}
	if b, _ := os.ReadFile(checked); string(b) != wantSums {
		t.Fatalf("the script checks\n%q\nwant\n%q", b, wantSums)
	}
}

var zeroSum = strings.Repeat("0", 64)

func testFolder(dir, workdir string, sets []string, slurm Slurm) *Folder {
	return &Folder{Dir: dir, Manifest: Manifest{Name: filepath.Base(dir), Workdir: workdir, Runner: runnerPath, RunnerSHA256: zeroSum,
		Specs: []Spec{{Copy: "specs/1/a b.toml", SHA256: strings.Repeat("1", 64)}}, Sets: sets, Backend: "go", Trials: 8, Slurm: slurm}}
}

func wantOptions(f *Folder) []string {
	o := []string{"--job-name=" + jobName("ddpm-"+f.Name), "--output=" + filepath.Join(f.Dir, "logs", "trial-%a.out"), "--chdir=" + f.Workdir,
		"--requeue", "--signal=B:TERM@" + strconv.Itoa(f.Slurm.GraceSecs)}
	if f.Slurm.Partition != "" {
		o = append(o, "--partition="+f.Slurm.Partition)
	}
	if f.Slurm.Time != "" {
		o = append(o, "--time="+f.Slurm.Time)
	}
	if f.Slurm.CPUs > 0 {
		o = append(o, "--cpus-per-task="+strconv.Itoa(f.Slurm.CPUs))
	}
	if f.Slurm.Mem != "" {
		o = append(o, "--mem="+f.Slurm.Mem)
	}
	if f.Slurm.Gres != "" {
		o = append(o, "--gres="+f.Slurm.Gres)
	}
	for _, e := range f.Slurm.Extra {
		o = append(o, extraOption(e))
	}
	return o
}

// TestScriptReadsBackExactly: values with spaces, quotes, '#', '$', backticks and
// backslashes reach sbatch and the runner exactly as given, none of them interpreted.
func TestScriptReadsBackExactly(t *testing.T) {
	nasty := `it's "a" #b $HOME ` + "`id`" + ` \x`
	cases := []struct {
		name         string
		dir, workdir string
		sets         []string
		slurm        Slurm
	}{
		{"plain", "/sweeps/sw", "/home/u", []string{"train.steps=5"}, Slurm{Partition: "cpu", Time: "1:00:00", CPUs: 2, Mem: "4G", Gres: "gpu:1", GraceSecs: 120, Extra: []string{"--account=lab"}}},
		{"spaces and quotes in paths", "/sweeps/my sweep it's \"x\" #1 $USER `id`", "/home/u/a b #c 'd' \\e", nil, Slurm{GraceSecs: 1}},
		{"a --set with everything", "/s", "/w", []string{`description="` + nasty + `"`, "a=$(id)", "b=;rm -rf /"}, Slurm{GraceSecs: 65535}},
		{"an --sbatch with spaces and quotes", "/s", "/w", nil, Slurm{GraceSecs: 60, Extra: []string{`--comment=` + nasty, "#SBATCH --qos=high"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := testFolder(tc.dir, tc.workdir, tc.sets, tc.slurm)
			script, err := f.Script()
			if err != nil {
				t.Fatal(err)
			}
			checkScript(t, f, script, wantOptions(f))
		})
	}
}

// TestScriptRefusesWhatCannotBeWritten: each place a value reaches job.sbatch refuses a
// newline (and the other characters and words it cannot hold) with an error naming the flag.
func TestScriptRefusesWhatCannotBeWritten(t *testing.T) {
	ok := func() *Folder { return testFolder("/s", "/w", nil, Slurm{GraceSecs: 120}) }
	cases := []struct {
		name string
		edit func(f *Folder)
		want string
	}{
		{"newline in the folder", func(f *Folder) { f.Dir = "/s\ntouch x" }, "--sweep"},
		{"percent in the folder", func(f *Folder) { f.Dir = "/s%j" }, "--sweep"},
		{"backslash in the folder", func(f *Folder) { f.Dir = `/s\x` }, "--sweep"},
		{"hetjob in the folder", func(f *Folder) { f.Dir = "/HetJob" }, "--sweep"},
		{"newline in the working directory", func(f *Folder) { f.Workdir = "/w\nx" }, "working directory"},
		{"newline in a spec name", func(f *Folder) { f.Specs[0].Copy = "specs/1/a\nb.toml" }, "spec file"},
		{"carriage return in --set", func(f *Folder) { f.Sets = []string{"a=\"x\ry\""} }, "--set"},
		{"NUL in --set", func(f *Folder) { f.Sets = []string{"a=\x00"} }, "--set"},
		{"newline in --backend", func(f *Folder) { f.Backend = "go\nx" }, "--backend"},
		{"newline in --partition", func(f *Folder) { f.Slurm.Partition = "cpu\nx" }, "--partition"},
		{"space in --partition", func(f *Folder) { f.Slurm.Partition = "a b" }, "--partition"},
		{"newline in --time", func(f *Folder) { f.Slurm.Time = "1:00\n" }, "--time"},
		{"bad --time", func(f *Folder) { f.Slurm.Time = "1h" }, "--time"},
		{"bad --mem", func(f *Folder) { f.Slurm.Mem = "4 G" }, "--mem"},
		{"newline in --gres", func(f *Folder) { f.Slurm.Gres = "gpu\n" }, "--gres"},
		{"newline in --sbatch", func(f *Folder) { f.Slurm.Extra = []string{"--a=b\nc"} }, "--sbatch"},
		{"--sbatch not an option", func(f *Folder) { f.Slurm.Extra = []string{"touch x"} }, "--sbatch"},
		{"negative --cpus-per-task", func(f *Folder) { f.Slurm.CPUs = -1 }, "--cpus-per-task"},
		{"negative --max-parallel", func(f *Folder) { f.Slurm.MaxParallel = -1 }, "--max-parallel"},
		{"zero --signal-grace", func(f *Folder) { f.Slurm.GraceSecs = 0 }, "--signal-grace"},
		{"negative --signal-grace", func(f *Folder) { f.Slurm.GraceSecs = -5 }, "--signal-grace"},
		{"a job id that is not one", func(f *Folder) { f.Jobs = []Job{{ID: "1;x", Indices: "1-2"}} }, "job"},
		{"a sha256 that is not one", func(f *Folder) { f.RunnerSHA256 = "x' ; id '" }, "sha256"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := ok()
			tc.edit(f)
			if s, err := f.Script(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Script: %v, want an error naming %s; wrote:\n%s", err, tc.want, s)
			}
		})
	}
	if _, err := ok().Script(); err != nil {
		t.Errorf("the plain folder is refused: %v", err)
	}
}

// FuzzScript: whatever bytes reach a sweep's values (the folder path, the working directory,
// a spec file name, a --set, the backend, every Slurm option), job.sbatch is either refused
// or read back exactly: by sbatch (every variant) as exactly the options given, one argument
// each, and by bash as exactly the task's command line after checking exactly the submitted
// files.
func FuzzScript(f *testing.F) {
	f.Add("sw", "/home/u", "a.toml", "train.steps=5", "go", "cpu", "1:00:00", "4G", "gpu:1", "--account=lab", 2, 120)
	f.Add("my sweep $USER", "/w d", "it's.toml", `description="$5 and `+"`id`\"", "xla:cuda", "a,b", "30", "0", "gpu:a100:2", `--comment=a "b" #c \d`, 0, 1)
	f.Add("x\ntouch INJECTED\n", "/w\n", "x\n.toml", "a=\"\r\"", "\x00", "p\nq", "1\n", "4G\n", "g\n", "--a\nb", -1, -5)
	f.Fuzz(func(t *testing.T, dir, workdir, specName, set, backend, partition, timeLimit, mem, gres, extra string, cpus, grace int) {
		try := func(dir, workdir, specName, set, backend, partition, timeLimit, mem, gres, extra string, cpus, grace int) bool {
			fo := testFolder("/sweeps/"+dir, workdir, []string{set}, Slurm{Partition: partition, Time: timeLimit, Mem: mem, Gres: gres,
				CPUs: cpus, GraceSecs: grace, Extra: []string{extra}})
			fo.Backend = backend
			fo.Specs[0].Copy = filepath.Join("specs", "1", specName)
			script, err := fo.Script()
			if err != nil {
				return false // refused
			}
			if strings.ContainsAny(dir+workdir+specName+set+backend+partition+timeLimit+mem+gres+extra, "\x00\n\r") {
				t.Fatalf("a control character was accepted")
			}
			checkScript(t, fo, script, wantOptions(fo))
			return true
		}
		if try(dir, workdir, specName, set, backend, partition, timeLimit, mem, gres, extra, cpus, grace) {
			return
		}
		// Most random inputs are refused for one field; the same input with the refused
		// characters and forms taken out exercises the writer on everything else in it.
		clean := func(s string) string {
			return strings.Map(func(r rune) rune {
				if unicode.IsControl(r) || r == '%' || r == '\\' {
					return -1
				}
				return r
			}, strings.ToValidUTF8(s, "?"))
		}
		if (Slurm{GraceSecs: 1, Time: timeLimit}).Validate() != nil {
			timeLimit = ""
		}
		if (Slurm{GraceSecs: 1, Mem: mem}).Validate() != nil {
			mem = ""
		}
		if cpus < 0 {
			cpus = -cpus
		}
		if grace < 1 || grace > maxGrace {
			grace = 120
		}
		try(clean(dir), clean(workdir), clean(specName), clean(set), clean(backend), strings.ReplaceAll(clean(partition), " ", ""), timeLimit, mem,
			strings.ReplaceAll(clean(gres), " ", ""), "--"+clean(extra), cpus%1000, grace)
	})
}
