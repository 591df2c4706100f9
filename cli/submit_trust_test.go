package cli

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fakeRunner is a stand-in runner binary for sweeps whose tasks are never meant to train: it
// only says that it ran.
func fakeRunner(t *testing.T) string {
	t.Helper()
	p := writeFile(t, t.TempDir(), "runner", "#!/bin/sh\necho RUNNER-RAN\n")
	if err := os.Chmod(p, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSubmitRefusesControlCharacters: a newline (or any control character) in any value that
// reaches job.sbatch is refused before anything is written, with an error naming where it came
// from, whichever of the eight routes it takes; nothing is injected.
func TestSubmitRefusesControlCharacters(t *testing.T) {
	const evil = "\ntouch INJECTED\n"
	cases := []struct {
		name                         string
		specName, sweepName, workdir string
		flags                        []string
		want                         string // in the error
	}{
		{name: "spec file name", specName: "x" + evil + ".toml", want: "spec file"},
		{name: "--sweep", sweepName: "sw" + evil, want: "--sweep"},
		{name: "working directory", workdir: "wd" + evil, want: "working directory"},
		{name: "--partition", flags: []string{"--partition", "cpu" + evil}, want: "--partition"},
		{name: "--time", flags: []string{"--time", "1:00:00" + evil}, want: "--time"},
		{name: "--mem", flags: []string{"--mem", "4G" + evil}, want: "--mem"},
		{name: "--gres", flags: []string{"--gres", "gpu:1" + evil}, want: "--gres"},
		{name: "--sbatch", flags: []string{"--sbatch", "--account=lab" + evil}, want: "--sbatch"},
		{name: "--set", flags: []string{"--set", "description=\"a\rb\""}, want: "--set"},
		{name: "tab in --partition", flags: []string{"--partition", "a\tb"}, want: "--partition"},
		{name: "ESC in --gres", flags: []string{"--gres", "gpu\x1b[2J"}, want: "--gres"},
	}
	runner := fakeRunner(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			wd := dir
			if tc.workdir != "" {
				wd = filepath.Join(dir, tc.workdir)
				if err := os.Mkdir(wd, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			t.Chdir(wd)
			name := "sweep.toml"
			if tc.specName != "" {
				name = tc.specName
			}
			specPath := writeFile(t, dir, name, sweepSpec)
			args := []string{"submit", "--slurm", "--dry-run", "--runner", runner}
			if tc.specName == "" {
				sw := "sw"
				if tc.sweepName != "" {
					sw = tc.sweepName
				}
				args = append(args, "--sweep", filepath.Join(dir, sw))
			}
			args = append(append(args, tc.flags...), specPath)
			code, _, errOut := runCLI(t, args...)
			scripts := findFiles(t, dir, "job.sbatch")
			for _, s := range scripts {
				// Whatever was written, running it must not run what a value smuggled in.
				cmd := exec.Command("bash", s)
				cmd.Dir = dir
				cmd.Env = append(os.Environ(), "SLURM_ARRAY_TASK_ID=1")
				cmd.Run()
			}
			if _, err := os.Stat(filepath.Join(dir, "INJECTED")); err == nil {
				t.Errorf("job.sbatch ran a command smuggled in through %s", tc.name)
			}
			if code != 2 || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, want 2 with an error naming %s: %s", code, tc.want, errOut)
			}
			if len(scripts) != 0 || len(findFiles(t, dir, "sweep.json")) != 0 {
				t.Errorf("a refused submission wrote %v", append(scripts, findFiles(t, dir, "sweep.json")...))
			}
		})
	}
}

// TestSubmitRefusesBadNumbers: counts and seconds must be positive (a CPU count or grace period
// of zero or less means nothing to Slurm), and --max-parallel at least 0.
func TestSubmitRefusesBadNumbers(t *testing.T) {
	for _, tc := range []struct{ flag, value string }{
		{"--signal-grace", "-5"}, {"--signal-grace", "0"}, {"--signal-grace", "70000"},
		{"--cpus-per-task", "-1"}, {"--cpus-per-task", "0"}, {"--max-parallel", "-2"},
		{"--time", "soon"}, {"--mem", "lots"}, {"--sbatch", "account=lab"},
	} {
		t.Run(tc.flag+"="+tc.value, func(t *testing.T) {
			dir := t.TempDir()
			t.Chdir(dir)
			specPath := writeFile(t, dir, "sweep.toml", sweepSpec)
			code, _, errOut := runCLI(t, "submit", "--slurm", "--dry-run", "--sweep", filepath.Join(dir, "sw"), tc.flag, tc.value, specPath)
			if code != 2 || !strings.Contains(errOut, tc.flag) {
				t.Errorf("exit %d, want 2 with an error naming %s: %s", code, tc.flag, errOut)
			}
			if _, err := os.Stat(filepath.Join(dir, "sw", "sweep.json")); err == nil {
				t.Error("a refused submission wrote sweep.json")
			}
		})
	}
}

// TestSubmitPrintedCommandsAreLiteral: every word of a printed task command reads back, in a
// POSIX shell, as exactly the text it was made from: `$NAME`, backticks and quotes in a --set
// value or in the sweep folder's path are not expanded.
func TestSubmitPrintedCommandsAreLiteral(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	specPath := writeFile(t, dir, "sweep.toml", sweepSpec)
	sw := filepath.Join(dir, "sw$USER `id` it's")
	set := `description="cost $5 and $HOME, ` + "`id`" + ` it's"`
	code, out, errOut := runCLI(t, "submit", "--print", "--sweep", sw, "--set", set, specPath)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 {
		t.Fatalf("printed %d commands, want 4:\n%s", len(lines), out)
	}
	for i, line := range lines {
		words := shellWords(t, line)
		if len(words) == 0 || words[0] != filepath.Join(sw, "bin", "runner") {
			t.Errorf("command %d runs %q, want the sweep's own runner %q", i+1, words, filepath.Join(sw, "bin", "runner"))
		}
		if !containsSeq(words, "--set", set) {
			t.Errorf("command %d reads back as %q, want --set %q", i+1, words, set)
		}
		if !containsSeq(words, "--db", filepath.Join(sw, "shards", "trial-"+string(rune('1'+i))+".db")) {
			t.Errorf("command %d's shard is not in the sweep folder: %q", i+1, words)
		}
	}
	// The script Slurm runs: the same words, with the index from Slurm.
	if code, _, errOut := runCLI(t, "submit", "--slurm", "--dry-run", "--sweep", sw+"2", "--set", set, specPath); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	script, err := os.ReadFile(filepath.Join(sw+"2", "job.sbatch"))
	if err != nil {
		t.Fatal(err)
	}
	words := scriptExecWords(t, string(script), "3")
	if !containsSeq(words, "--set", set) || !containsSeq(words, "--trial", "3") || !containsSeq(words, "--db", filepath.Join(sw+"2", "shards", "trial-3.db")) {
		t.Errorf("job.sbatch runs %q", words)
	}
}

// shellWords is what sh reads line as: its words, each exactly.
func shellWords(t *testing.T, line string) []string {
	t.Helper()
	out, err := exec.Command("sh", "-c", `eval "set -- $1"; for a in "$@"; do printf '%s\0' "$a"; done`, "sh", line).Output()
	if err != nil {
		t.Fatalf("sh could not read %q: %v", line, err)
	}
	return strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
}

// scriptExecWords runs a job script with its exec and the checks before it stubbed out, and
// returns the words its exec line was given.
func scriptExecWords(t *testing.T, script, index string) []string {
	t.Helper()
	stub := "exec() { for a in \"$@\"; do printf '%s\\0' \"$a\"; done; exit 0; }\nsha256sum() { cat >/dev/null; }\n"
	cmd := exec.Command("bash", "-c", stub+script)
	cmd.Env = append(os.Environ(), "SLURM_ARRAY_TASK_ID="+index)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("running the script: %v\n%s", err, script)
	}
	return strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
}

func containsSeq(words []string, a, b string) bool {
	for i := 0; i+1 < len(words); i++ {
		if words[i] == a && words[i+1] == b {
			return true
		}
	}
	return false
}

func findFiles(t *testing.T, root, name string) []string {
	t.Helper()
	var found []string
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Name() == name {
			found = append(found, p)
		}
		return nil
	})
	return found
}

// editManifest rewrites sweep.json's manifest (the object of the sweep's own fields) with edit,
// leaving everything else in the file as it was.
func editManifest(t *testing.T, sw string, edit func(m map[string]any)) {
	t.Helper()
	p := filepath.Join(sw, "sweep.json")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]any
	if err := json.Unmarshal(b, &top); err != nil {
		t.Fatal(err)
	}
	m := top
	if inner, ok := top["manifest"].(map[string]any); ok {
		m = inner
	}
	edit(m)
	out, err := json.MarshalIndent(top, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

func sha256File(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestSweepFolderRefusesTampering: any change to a sweep folder after submission (its
// manifest, the runner binary, a spec copy, where they point) is refused by submit --resume
// and sweep status before anything runs or is written, and a queued task's job.sbatch runs
// neither a replaced binary nor a changed spec.
func TestSweepFolderRefusesTampering(t *testing.T) {
	cases := []struct {
		name   string
		tamper func(t *testing.T, sw string)
		// taskRefuses: the change reaches what a queued task runs or reads, so the script
		// as submitted must refuse to run.
		taskRefuses bool
	}{
		{"replaced bin/runner", func(t *testing.T, sw string) {
			writeFile(t, sw, "bin/runner", "#!/bin/sh\necho PWNED\n")
			os.Chmod(filepath.Join(sw, "bin", "runner"), 0o755)
		}, true},
		{"edited sets", func(t *testing.T, sw string) {
			editManifest(t, sw, func(m map[string]any) { m["sets"] = []any{"train.steps=6"} })
		}, false},
		{"runner path leaves the folder", func(t *testing.T, sw string) {
			editManifest(t, sw, func(m map[string]any) { m["runner"] = "../../../../../../../../bin/sh" })
		}, false},
		{"spec copy path to /etc/passwd with its sha256", func(t *testing.T, sw string) {
			sum := sha256File(t, "/etc/passwd")
			editManifest(t, sw, func(m map[string]any) {
				s := m["specs"].([]any)[0].(map[string]any)
				s["copy"], s["sha256"] = "../../../../../../../../etc/passwd", sum
			})
		}, false},
		{"spec copy symlinked outside the folder", func(t *testing.T, sw string) {
			copyPath := findFiles(t, filepath.Join(sw, "specs"), "sweep.toml")[0]
			b, _ := os.ReadFile(copyPath)
			outside := writeFile(t, t.TempDir(), "same.toml", string(b))
			os.Remove(copyPath)
			if err := os.Symlink(outside, copyPath); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"edited spec copy", func(t *testing.T, sw string) {
			copyPath := findFiles(t, filepath.Join(sw, "specs"), "sweep.toml")[0]
			b, _ := os.ReadFile(copyPath)
			os.WriteFile(copyPath, bytes.Replace(b, []byte("steps = 5"), []byte("steps = 7"), 1), 0o644)
		}, true},
		{"edited backend", func(t *testing.T, sw string) {
			editManifest(t, sw, func(m map[string]any) { m["backend"] = "go:stock" })
		}, false},
		{"trial count raised", func(t *testing.T, sw string) {
			editManifest(t, sw, func(m map[string]any) { m["trials"] = 100000000 })
		}, false},
		{"trial count lowered", func(t *testing.T, sw string) {
			editManifest(t, sw, func(m map[string]any) { m["trials"] = 1 })
		}, false},
		{"slurm option edited", func(t *testing.T, sw string) {
			editManifest(t, sw, func(m map[string]any) { m["slurm"].(map[string]any)["partition"] = "cpu\ntouch INJECTED" })
		}, false},
		{"manifest replaced by one without a seal", func(t *testing.T, sw string) {
			b, _ := os.ReadFile(filepath.Join(sw, "sweep.json"))
			var top map[string]any
			json.Unmarshal(b, &top)
			if inner, ok := top["manifest"]; ok {
				b, _ = json.MarshalIndent(inner, "", "  ")
			}
			os.WriteFile(filepath.Join(sw, "sweep.json"), b, 0o644)
		}, false},
	}
	runner := fakeRunner(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			t.Chdir(dir)
			specPath := writeFile(t, dir, "sweep.toml", sweepSpec)
			sw := filepath.Join(dir, "sw")
			if code, _, errOut := runCLI(t, "submit", "--slurm", "--dry-run", "--runner", runner, "--set", "train.steps=5", "--sweep", sw, specPath); code != 0 {
				t.Fatalf("submit: exit %d: %s", code, errOut)
			}
			if code, _, errOut := runCLI(t, "submit", "--print", "--resume", sw); code != 0 {
				t.Fatalf("resume of an untouched sweep: exit %d: %s", code, errOut)
			}
			scriptBefore, _ := os.ReadFile(filepath.Join(sw, "job.sbatch"))
			tc.tamper(t, sw)
			// The script as submitted (sbatch keeps its own copy) checks what it runs.
			cmd := exec.Command("bash", filepath.Join(dir, "submitted.sbatch"))
			writeFile(t, dir, "submitted.sbatch", string(scriptBefore))
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "SLURM_ARRAY_TASK_ID=1")
			out, err := cmd.CombinedOutput()
			if strings.Contains(string(out), "PWNED") {
				t.Errorf("the submitted job.sbatch ran a replaced runner: %s", out)
			}
			if ran := strings.Contains(string(out), "RUNNER-RAN"); tc.taskRefuses && (ran || err == nil) {
				t.Errorf("the submitted job.sbatch ran on a changed folder (%v): %s", err, out)
			} else if !tc.taskRefuses && !ran {
				t.Errorf("the submitted job.sbatch did not run the untouched runner (%v): %s", err, out)
			}
			for _, args := range [][]string{
				{"submit", "--slurm", "--dry-run", "--resume", sw},
				{"submit", "--print", "--resume", sw},
				{"sweep", "status", sw},
			} {
				code, out, errOut := runCLI(t, args...)
				if code != 2 || !strings.Contains(errOut, sw) {
					t.Errorf("%s on a tampered sweep: exit %d, want 2 naming the folder\n%s%s", strings.Join(args[:2], " "), code, out, errOut)
				}
			}
			if after, _ := os.ReadFile(filepath.Join(sw, "job.sbatch")); !bytes.Equal(after, scriptBefore) {
				t.Error("job.sbatch was rewritten from a tampered sweep folder")
			}
			if _, err := os.Stat(filepath.Join(dir, "INJECTED")); err == nil {
				t.Error("a tampered value was run")
			}
		})
	}
}

// TestSubmitResumeWritesNothingThroughSymlinks: a job.sbatch (or a leftover temporary file)
// planted in the sweep folder as a symlink to a file elsewhere is replaced, not written
// through, when --resume writes the script again.
func TestSubmitResumeWritesNothingThroughSymlinks(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	specPath := writeFile(t, dir, "sweep.toml", sweepSpec)
	sw := filepath.Join(dir, "sw")
	if code, _, errOut := runCLI(t, "submit", "--slurm", "--dry-run", "--runner", fakeRunner(t), "--sweep", sw, specPath); code != 0 {
		t.Fatalf("submit: exit %d: %s", code, errOut)
	}
	victim := writeFile(t, dir, "victim", "precious\n")
	for _, name := range []string{"job.sbatch", "sweep.json.tmp"} {
		os.Remove(filepath.Join(sw, name))
		if err := os.Symlink(victim, filepath.Join(sw, name)); err != nil {
			t.Fatal(err)
		}
	}
	if code, _, errOut := runCLI(t, "submit", "--slurm", "--dry-run", "--resume", sw); code != 0 {
		t.Fatalf("resume: exit %d: %s", code, errOut)
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious\n" {
		t.Errorf("resume wrote through a symlink in the sweep folder: %q", b)
	}
	if st, err := os.Lstat(filepath.Join(sw, "job.sbatch")); err != nil || !st.Mode().IsRegular() {
		t.Errorf("job.sbatch after resume: %v %v", st, err)
	}
}
