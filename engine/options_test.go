package engine_test

import (
	"math"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/ddpm-runner/ddpm-runner/engine"
	"github.com/ddpm-runner/ddpm-runner/results"
)

// The training options people ablate change nothing at their defaults, and something when
// set: min_snr with an unreachable gamma weighs every eps-MSE by SNR/SNR = 1 (the same bits
// as none), a small gamma changes the losses; offset noise changes them too.
func TestAblationOptionsDefaultsChangeNothing(t *testing.T) {
	h := newHarness(t)
	losses := func(sets ...string) []float64 {
		out := h.run(h.jobs(tiny, append([]string{"train.log_every=1"}, sets...)...)[0])
		if out.Status != results.StatusFinished {
			t.Fatalf("%v: %s %v", sets, out.Status, out.Err)
		}
		return h.losses(out.RunID)
	}
	base := losses()
	same := func(a, b []float64) bool {
		for i := range a {
			if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
				return false
			}
		}
		return len(a) == len(b)
	}
	for _, c := range []struct {
		sets []string
		same bool
	}{
		{[]string{"loss.weighting=none", "train.offset_noise=0"}, true},
		{[]string{"loss.weighting=min_snr", "loss.gamma=1e30"}, true},
		{[]string{"loss.weighting=min_snr", "loss.gamma=0.5"}, false},
		{[]string{"train.offset_noise=0.1"}, false},
	} {
		if got := losses(c.sets...); same(got, base) != c.same {
			t.Errorf("%v: losses equal to the defaults' = %v, want %v (first %v vs %v)", c.sets, !c.same, c.same, got[0], base[0])
		}
	}
}

// A run whose metrics compute the bound keeps its terms by t: the rows for t >= 1 sum to
// the recorded nll_terms and the row for t = 0 is the decoder term.
func TestBoundPerTArtifact(t *testing.T) {
	h := newHarness(t)
	out := h.run(h.jobs(tiny, `eval.metrics=["nll"]`)[0])
	if out.Status != results.StatusFinished {
		t.Fatalf("%s: %v", out.Status, out.Err)
	}
	path, err := h.store.ArtifactPath(out.RunID, engine.BoundArtifact)
	if err != nil || path == "" {
		t.Fatalf("no %s: %v", engine.BoundArtifact, err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rows := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(rows) != 1+20 { // header and T = 20 rows
		t.Fatalf("%d lines:\n%s", len(rows), b)
	}
	var terms, decoder float64
	for i, row := range rows[1:] {
		f := strings.Split(row, ",")
		v, _ := strconv.ParseFloat(f[1], 64)
		if f[0] != strconv.Itoa(i) {
			t.Fatalf("row %d is for t = %s", i, f[0])
		}
		if i == 0 {
			decoder = v
		} else {
			terms += v
		}
	}
	if got, want := terms, out.Summaries["nll_terms_nats_per_dim"]; math.Abs(got-want) > 1e-9*math.Abs(want) {
		t.Errorf("terms sum to %.12g, the summary says %.12g", got, want)
	}
	if got, want := decoder, out.Summaries["nll_decoder_nats_per_dim"]; math.Abs(got-want) > 1e-12*math.Abs(want) {
		t.Errorf("decoder row %.12g, summary %.12g", got, want)
	}
	// Without the bound there is no such artifact.
	other := h.run(h.jobs(tiny, `eval.metrics=["mmd"]`)[0])
	if p, _ := h.store.ArtifactPath(other.RunID, engine.BoundArtifact); p != "" {
		t.Errorf("a run without nll has %s", p)
	}
}
