package cli

import (
	"crypto/sha256"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ddpm-runner/ddpm-runner/results"
)

// sampleParentSets train quickSpec a little longer, on the cosine schedule, with an EMA.
var sampleParentSets = []string{"--set", "train.steps=40", "--set", "schedule.name=cosine", "--set", "train.ema=0.9",
	"--set", "train.checkpoint_every=20", "--set", `eval.metrics=["frechet", "nll"]`}

// trainedParent trains the parent run of the sample tests and returns its database.
func trainedParent(t *testing.T) (db string) {
	t.Helper()
	dir := t.TempDir()
	spec := writeFile(t, dir, "quick.toml", quickSpec)
	db = filepath.Join(dir, "runs.db")
	if code, _, errOut := runCLI(t, append([]string{"run", spec, "--db", db, "-q"}, sampleParentSets...)...); code != 0 {
		t.Fatalf("training the parent: exit %d: %s", code, errOut)
	}
	return db
}

// folderHash is a digest of every file's name and bytes under dir.
func folderHash(t *testing.T, dir string) [32]byte {
	t.Helper()
	h := sha256.New()
	err := filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		h.Write([]byte(path))
		h.Write(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

func TestSampleRecordsARunOfTheParentsWeights(t *testing.T) {
	db := trainedParent(t)
	parentDir := filepath.Join(filepath.Dir(db), "runs", "1")
	before := folderHash(t, parentDir)
	sample := func(args ...string) (int, string) {
		code, _, errOut := runCLI(t, append([]string{"sample", "1", "--db", db, "-q"}, args...)...)
		return code, errOut
	}
	for _, args := range [][]string{
		{"--set", "sample.name=ddim", "--set", "sample.steps=5"},
		{"--set", "sample.name=ddim", "--set", "sample.steps=5"}, // the same again: run 3 must equal run 2
		{"--set", "sample.name=heun", "--set", "sample.steps=5", "--seeds", "7"},
	} {
		if code, errOut := sample(args...); code != 0 {
			t.Fatalf("sample %v: exit %d: %s", args, code, errOut)
		}
	}
	if folderHash(t, parentDir) != before {
		t.Error("runner sample changed the parent's artifact folder")
	}
	store, err := results.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	parent, _ := store.Run(1)
	runs := map[int64]*results.Run{}
	for id := int64(2); id <= 4; id++ {
		r, err := store.Run(id)
		if err != nil {
			t.Fatal(err)
		}
		runs[id] = r
		if r.Status != results.StatusFinished || r.Env["kind"] != "sample" || r.Env["parent_run"] != "1" || r.Env["parent_uid"] != parent.UID {
			t.Errorf("run %d: %s, env kind %q parent %q uid %q (parent uid %q)", id, r.Status, r.Env["kind"], r.Env["parent_run"], r.Env["parent_uid"], parent.UID)
		}
		if r.Params["train.steps"] != "40" || r.Params["schedule.name"] != "cosine" || r.Params["kind"] != "sample" {
			t.Errorf("run %d does not carry the parent's training settings: %v", id, r.Params)
		}
		if n, _ := store.CountMetrics(id); n != 0 {
			t.Errorf("run %d logged %d training metrics; a sample run trains nothing", id, n)
		}
	}
	if runs[2].Summaries["nfe"] != 5 || runs[4].Summaries["nfe"] != 9 {
		t.Errorf("nfe: ddim %v (want 5), heun %v (want 9)", runs[2].Summaries["nfe"], runs[4].Summaries["nfe"])
	}
	a, b := runs[2].Summaries["frechet"], runs[3].Summaries["frechet"]
	if math.Float64bits(a) != math.Float64bits(b) || math.IsNaN(a) {
		t.Errorf("the same sample twice: frechet %v and %v", a, b)
	}
	if runs[4].Seed != 7 || runs[4].Summaries["frechet"] == a {
		t.Errorf("seed 7: seed %d, frechet %v (seed 0's %v)", runs[4].Seed, runs[4].Summaries["frechet"], a)
	}
	code, out, errOut := runCLI(t, "rerun", "4", "--verify", "--db", db, "-q")
	if code != 0 || strings.TrimSpace(out) != "identical" {
		t.Errorf("rerun --verify of a sample run: exit %d, %q %s", code, out, errOut)
	}
	if n, _ := store.CountMetrics(5); n != 0 {
		t.Errorf("the rerun of a sample run trained (%d metrics)", n)
	}
	// The HTML report charts the sample metric against NFE and draws the bound by timestep.
	code, page, errOut := runCLI(t, "report", "--db", db, "--format", "html")
	for _, want := range []string{`alt="frechet against NFE"`, `alt="bound per timestep"`} {
		if code != 0 || !strings.Contains(page, want) {
			t.Errorf("report --format html (exit %d, %s) has no %s", code, errOut, want)
		}
	}
}

func TestSampleRefusals(t *testing.T) {
	db := trainedParent(t)
	if code, _, errOut := runCLI(t, "sample", "1", "--db", db, "-q", "--set", "sample.name=ddim", "--set", "sample.steps=4"); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	sampleSpec := writeFile(t, t.TempDir(), "s.toml", "[sample]\nname = \"euler\"\n[sweep]\n\"sample.steps\" = [2, 3]\n[train]\nsteps = 9\n")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"sample", "1", "--set", "train.lr=1"}, `"train" is the parent run's`},
		{[]string{"sample", "1", "--spec", sampleSpec}, `s.toml:5: runner sample changes only`},
		{[]string{"sample", "2"}, "run 2 is itself a sample run; sample its parent, run 1"},
		{[]string{"resume", "2"}, "run 2 is finished"},
		{[]string{"sample", "9"}, "no run with id 9"},
	} {
		code, _, errOut := runCLI(t, append(c.args, "--db", db)...)
		if code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, %q; want exit 2 saying %q", c.args, code, errOut, c.want)
		}
	}
	// A sample spec's sweep runs one sample run per point.
	good := writeFile(t, t.TempDir(), "s.toml", "[sample]\nname = \"euler\"\n[sweep]\n\"sample.steps\" = [2, 3]\n")
	if code, _, errOut := runCLI(t, "sample", "1", "--spec", good, "--db", db, "-q"); code != 0 {
		t.Fatalf("sweep: exit %d: %s", code, errOut)
	}
	store, _ := results.Open(db)
	defer store.Close()
	for id, steps := range map[int64]string{3: "2", 4: "3"} {
		r, err := store.Run(id)
		if err != nil || r.Params["sample.steps"] != steps || r.Params["sample.name"] != "euler" {
			t.Errorf("run %d: %v %v", id, r.Params, err)
		}
	}
}
