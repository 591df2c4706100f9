package report

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/ddpm-runner/ddpm-runner/plugins/builtin"
	"github.com/ddpm-runner/ddpm-runner/results"
)

// fixtureRuns makes finished runs of one group (label = its params) with the given values of
// fid and nll_bits_per_dim by seed; samples and held-out sizes as given.
func fixtureRuns(label string, fid, nll []float64, samples string) []*results.Run {
	var out []*results.Run
	for seed := range fid {
		out = append(out, &results.Run{ID: int64(len(label)*100 + seed), Spec: "fixture", GroupHash: label, Seed: seed,
			Status:    results.StatusFinished,
			Params:    map[string]string{"variant": label, "seed": "x", "sample.n": samples, "eval.n": "300"},
			Env:       map[string]string{"metric.fid.featurizer": "mnist-cnn@abc"},
			Summaries: map[string]float64{"fid": fid[seed], "nll_bits_per_dim": nll[seed]}})
	}
	return out
}

func byLabel(groups []*Group, label string) *Group {
	for _, g := range groups {
		if g.GroupHash == label {
			return g
		}
	}
	return nil
}

func diffOf(rows []PairedDiff, metric string) PairedDiff {
	for _, r := range rows {
		if r.Metric == metric {
			return r
		}
	}
	return PairedDiff{}
}

// Seeds differ a lot (sd 5 on fid), the treatment little (B is 1.0 lower on fid) and the two
// groups' runs of a seed are correlated: the paired test finds the difference with the right
// sign and an interval around it; the unpaired test does not; a null difference (nll) is
// "not established", with a number of seeds for 80% power.
func TestPairedDiffOnCorrelatedSeeds(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var fa, fb, na, nb []float64
	for range 5 {
		seed := 100 + 5*rng.NormFloat64()
		fa = append(fa, seed+0.2*rng.NormFloat64())
		fb = append(fb, seed-1.0+0.2*rng.NormFloat64())
		level := 4 + 0.1*rng.NormFloat64()
		na = append(na, level+0.05*rng.NormFloat64())
		nb = append(nb, level+0.05*rng.NormFloat64())
	}
	groups := GroupRuns(append(fixtureRuns("A", fa, na, "500"), fixtureRuns("B", fb, nb, "500")...))
	rows := Diff(nil, byLabel(groups, "A"), byLabel(groups, "B"))
	fid := diffOf(rows, "fid")
	if !fid.Comparable || fid.NPairs != 5 || fid.MeanDiff > -0.5 || fid.CIHigh >= 0 || fid.CILow > -1.0 || fid.CIHigh < -1.0 || fid.PValue >= 0.05 {
		t.Errorf("fid: %+v; want B lower by about 1, the interval around -1 and below 0", fid)
	}
	if !strings.HasPrefix(fid.Verdict, "B lower by ") || !strings.Contains(fid.Verdict, "5 seeds") {
		t.Errorf("fid verdict %q", fid.Verdict)
	}
	if p := WelchT(fa, fb); p < 0.05 {
		t.Errorf("the unpaired test found the difference too (p = %.3f): the fixture does not show the paired test's power", p)
	}
	nll := diffOf(rows, "nll_bits_per_dim")
	if nll.PValue < 0.05 || !strings.HasPrefix(nll.Verdict, "not established") || nll.SeedsFor80 < 2 {
		t.Errorf("nll: %+v; want not established, with a seed count", nll)
	}
}

// fid computed from different numbers of samples is not diffed, and the reason says so.
func TestDiffRefusesIncomparableTerms(t *testing.T) {
	v := []float64{1, 2, 3}
	groups := GroupRuns(append(fixtureRuns("A", v, v, "500"), fixtureRuns("B", v, v, "1000")...))
	rows := Diff(nil, byLabel(groups, "A"), byLabel(groups, "B"))
	fid := diffOf(rows, "fid")
	if fid.Comparable || !strings.Contains(fid.Reason, "different samples (1000 in B, 500 in A)") || !math.IsNaN(fid.PValue) {
		t.Errorf("fid: %+v; want not comparable because of the sample counts", fid)
	}
	if nll := diffOf(rows, "nll_bits_per_dim"); !nll.Comparable {
		t.Errorf("nll does not depend on the samples: %+v", nll)
	}
}

func TestHolm(t *testing.T) {
	got := Holm([]float64{0.04, 0.01, math.NaN(), 0.03})
	want := []float64{0.06, 0.03, math.NaN(), 0.06} // sorted 0.01, 0.03, 0.04: x3, x2, x1, running max
	for i := range want {
		if math.IsNaN(want[i]) != math.IsNaN(got[i]) || (!math.IsNaN(want[i]) && math.Abs(got[i]-want[i]) > 1e-12) {
			t.Fatalf("Holm = %v, want %v", got, want)
		}
	}
}

// With three groups, a best mark needs the best to differ from the runner-up after Holm's
// correction over the table's metrics: a difference significant alone (p about 0.03 on each
// of two metrics) loses its mark; a clear one keeps it.
func TestHolmDecidesTheBestMarks(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	mk := func(shift, sd float64) []float64 {
		var v []float64
		for seed := range 4 {
			v = append(v, 10+float64(seed)+shift+sd*rng.NormFloat64())
		}
		return v
	}
	// Search a fixture whose raw p-values fall between 0.025 and 0.05 for both metrics, so
	// that alone each is significant and Holm (x2 for the smaller) removes at least one mark.
	for try := 0; try < 2000; try++ {
		fa, fb, fc := mk(0, 0.3), mk(-0.5, 0.3), mk(5, 0.3)
		na, nb, nc := mk(0, 0.3), mk(-0.5, 0.3), mk(5, 0.3)
		groups := GroupRuns(append(append(fixtureRuns("A", fa, na, "500"), fixtureRuns("B", fb, nb, "500")...), fixtureRuns("C", fc, nc, "500")...))
		a, b := byLabel(groups, "A"), byLabel(groups, "B")
		pf, pn := bestVersusRunnerUp(b, a, "fid"), bestVersusRunnerUp(b, a, "nll_bits_per_dim")
		if b.Stats["fid"].Mean >= a.Stats["fid"].Mean || b.Stats["nll_bits_per_dim"].Mean >= a.Stats["nll_bits_per_dim"].Mean ||
			pf < 0.025 || pf > 0.05 || pn < 0.025 || pn > 0.05 {
			continue
		}
		if b.Stats["fid"].Best || b.Stats["nll_bits_per_dim"].Best {
			t.Fatalf("raw p %.3f and %.3f: after Holm (%.3f) neither should be marked; marks %v %v", pf, pn, 2*math.Min(pf, pn),
				b.Stats["fid"].Best, b.Stats["nll_bits_per_dim"].Best)
		}
		// A clear winner keeps its mark.
		groups = GroupRuns(append(append(fixtureRuns("A", fa, na, "500"), fixtureRuns("B", mk(-5, 0.1), mk(-5, 0.1), "500")...), fixtureRuns("C", fc, nc, "500")...))
		if b := byLabel(groups, "B"); !b.Stats["fid"].Best {
			t.Errorf("a clear best lost its mark")
		}
		return
	}
	t.Fatal("no fixture with both raw p-values in [0.025, 0.05] found")
}

// The table does not rank a metric whose groups computed it on different terms.
func TestNoBestMarkAcrossTerms(t *testing.T) {
	groups := GroupRuns(append(fixtureRuns("A", []float64{1, 2}, []float64{1, 2}, "500"), fixtureRuns("B", []float64{5, 6}, []float64{5, 6}, "1000")...))
	for _, g := range groups {
		if g.Stats["fid"].Best {
			t.Errorf("group %s's fid is marked best across sample counts 500 and 1000", g.GroupHash)
		}
	}
	if !byLabel(groups, "A").Stats["nll_bits_per_dim"].Best {
		t.Error("nll, comparable, lost its mark")
	}
}

// The bound's bootstrap over held-out examples: a shift of 0.5 nats/dim on every example,
// plus example noise, gives an interval around 0.5 (in bits: / ln 2) and a small p; equal
// bounds give an interval around 0.
func TestBoundBootstrapOverExamples(t *testing.T) {
	dir := t.TempDir()
	store, err := results.Open(filepath.Join(dir, "runs.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	rng := rand.New(rand.NewPCG(9, 9))
	base := make([]float64, 200)
	for i := range base {
		base[i] = 3 + rng.NormFloat64()
	}
	group := func(name string, shift float64) *Group {
		g := &Group{GroupHash: name}
		for seed := range 2 {
			id, err := store.CreateRun(results.NewRun{Spec: "b", Hash: name, GroupHash: name, Resolved: "{}", Seed: seed})
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			b.WriteString("example,nats_per_dim\n")
			for i, v := range base {
				fmt.Fprintf(&b, "%d,%g\n", i, v+shift+0.1*rng.NormFloat64())
			}
			runDir := filepath.Join(store.ArtifactRoot(), fmt.Sprint(id))
			if err := os.MkdirAll(runDir, 0o755); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(runDir, results.BoundExamplesArtifact)
			if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := store.AddArtifact(id, results.BoundExamplesArtifact, path); err != nil {
				t.Fatal(err)
			}
			g.Runs = append(g.Runs, &results.Run{ID: id, Seed: seed, Status: results.StatusFinished})
		}
		return g
	}
	a, b, c := group("A", 0), group("B", 0.5), group("C", 0)
	var warnings strings.Builder
	arts := &Artifacts{Store: store, Warn: &warnings}
	shifted := boundBootstrap(arts, a, b, "nll_bits_per_dim")
	want := 0.5 / math.Ln2
	// The example noise moves the realised mean by about 0.01 bits: the interval must lie
	// within 0.08 of the true shift, and well above 0.
	if shifted == nil || shifted.Examples != 200 || shifted.CILow < want-0.08 || shifted.CIHigh > want+0.08 ||
		shifted.CIHigh-shifted.CILow > 0.08 || shifted.PValue > 0.01 {
		t.Errorf("shifted by 0.5 nats: %+v; want a narrow interval near %.3f bits, above 0", shifted, want)
	}
	same := boundBootstrap(arts, a, c, "nll_nats_per_dim")
	if same == nil || same.CILow > 0 || same.CIHigh < 0 {
		t.Errorf("equal bounds: %+v; want an interval around 0", same)
	}
	// A metric's own value declared as a multiple of the per-example bound gets the same
	// bootstrap in its unit; the value of another EMA of the weights, whose bound the runs
	// did not record, gets none.
	if twice := boundBootstrap(arts, a, b, "probe_bound"); twice == nil || twice.CILow < 1-0.16 || twice.CIHigh > 1+0.16 {
		t.Errorf("probe_bound (twice the bound, in nats): %+v; want an interval near 1", twice)
	}
	if boundBootstrap(arts, a, b, "nll_bits_per_dim@ema0.99") != nil {
		t.Error("a bootstrap for another EMA's bound from the run's own per-example records")
	}
	if boundBootstrap(arts, a, b, "fid") != nil || boundBootstrap(nil, a, b, "nll_nats_per_dim") != nil {
		t.Error("a bootstrap for a metric without per-example values, or without a store")
	}
	if warnings.Len() != 0 {
		t.Errorf("warnings on the runs' own files: %s", warnings.String())
	}
}

// An infinity is written with its one sign.
func TestSignedWritesInfinityOnce(t *testing.T) {
	for v, want := range map[float64]string{math.Inf(1): "+Inf", math.Inf(-1): "-Inf", 0.5: "+0.5", -2: "-2", 0: "+0"} {
		if got := signed(v); got != want {
			t.Errorf("signed(%v) = %q, want %q", v, got, want)
		}
	}
}
