package engine_test

import (
	"math"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/ddpm-runner/ddpm-runner/engine"
	"github.com/ddpm-runner/ddpm-runner/results"
	"github.com/ddpm-runner/ddpm-runner/spec"
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
	path, err := h.store.ArtifactPath(out.RunID, results.BoundArtifact)
	if err != nil || path == "" {
		t.Fatalf("no %s: %v", results.BoundArtifact, err)
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
	// Each example's bound averages to the recorded bound.
	path, err = h.store.ArtifactPath(out.RunID, results.BoundExamplesArtifact)
	if err != nil || path == "" {
		t.Fatalf("no %s: %v", results.BoundExamplesArtifact, err)
	}
	b, _ = os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")[1:]
	var mean float64
	for _, l := range lines {
		v, _ := strconv.ParseFloat(strings.Split(l, ",")[1], 64)
		mean += v / float64(len(lines))
	}
	if want := out.Summaries["nll_nats_per_dim"]; len(lines) < 2 || math.Abs(mean-want) > 1e-9*math.Abs(want) {
		t.Errorf("%d examples averaging %.12g, the summary %.12g", len(lines), mean, want)
	}
	// Without the bound there is no such artifact.
	other := h.run(h.jobs(tiny, `eval.metrics=["mmd"]`)[0])
	if p, _ := h.store.ArtifactPath(other.RunID, results.BoundArtifact); p != "" {
		t.Errorf("a run without nll has %s", p)
	}
}

// vlb_units = "bits" adds the VLB term divided by ln 2: at step 1 (same weights) the hybrid
// losses differ by exactly lambda T L_t (1/ln 2 - 1), and the logged L_t (nats) is the same.
// decoder_cdf = "tanh" changes the decoder term of the bound on 8-bit data and nothing else.
func TestLossUnitsAndDecoderCDF(t *testing.T) {
	h := newHarness(t)
	run := func(text string, sets ...string) engine.Outcome {
		out := h.run(h.jobs(text, sets...)[0])
		if out.Status != results.StatusFinished {
			t.Fatalf("%v: %s %v", sets, out.Status, out.Err)
		}
		return out
	}
	hybrid := []string{"loss.name=hybrid", "predictor.variance=learned_range", "train.log_every=1"}
	nats := run(tiny, hybrid...)
	bits := run(tiny, append(hybrid, "loss.vlb_units=bits")...)
	vlb, _ := h.store.History(nats.RunID, "vlb_t")
	vlbBits, _ := h.store.History(bits.RunID, "vlb_t")
	ln, lb := h.losses(nats.RunID), h.losses(bits.RunID)
	if vlb[0].Value != vlbBits[0].Value {
		t.Errorf("logged L_t at step 1: %v in nats, %v with vlb_units = bits (both should be nats)", vlb[0].Value, vlbBits[0].Value)
	}
	const lambda, T = 0.001, 20
	want := lambda * T * vlb[0].Value * (1/math.Ln2 - 1)
	if got := lb[0] - ln[0]; math.Abs(got-want) > 1e-4*math.Abs(want)+1e-7 {
		t.Errorf("step 1: bits - nats loss = %.9g, want lambda T L_t (1/ln2 - 1) = %.9g", got, want)
	}
	text := unetSpec(t)
	exact := run(text, `eval.metrics=["nll"]`)
	tanh := run(text, `eval.metrics=["nll"]`, "loss.decoder_cdf=tanh")
	if a, b := exact.Summaries["nll_decoder_bits_per_dim"], tanh.Summaries["nll_decoder_bits_per_dim"]; a == b {
		t.Errorf("decoder term %v with both CDFs", a)
	}
	if a, b := exact.Summaries["nll_prior_bits_per_dim"], tanh.Summaries["nll_prior_bits_per_dim"]; a != b {
		t.Errorf("prior term %v exact, %v tanh: only the decoder may change", a, b)
	}
}

// zero_terminal_snr trains and samples a v predictor to finite samples; an eps predictor and
// Heun are refused before the run.
func TestZeroTerminalSNR(t *testing.T) {
	h := newHarness(t)
	for _, sampler := range []string{"respaced", "ddim", "euler", "dpmpp_2m"} {
		out := h.run(h.jobs(tiny, "schedule.zero_terminal_snr=true", "predictor.name=v", "sample.name="+sampler, "sample.steps=10")[0])
		if out.Status != results.StatusFinished || out.Summaries["samples_nonfinite_frac"] != 0 {
			t.Errorf("%s: %s %v, non-finite share %v", sampler, out.Status, out.Err, out.Summaries["samples_nonfinite_frac"])
		}
	}
	for _, c := range []struct {
		sets []string
		want string
	}{
		{[]string{"schedule.zero_terminal_snr=true"}, `needs [predictor] name = "v" or "x0"`},
		{[]string{"schedule.zero_terminal_snr=true", "predictor.name=v", "sample.name=heun"}, "heun cannot start at sigma = infinity"},
	} {
		trials, err := spec.Parse("z.toml", []byte(tiny), c.sets)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := engine.Prepare(trials[0]); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want an error saying %q", c.sets, err, c.want)
		}
	}
}

// A chain whose own betas reach 1 (or whose alpha_bar underflows) ends at alpha_bar = 0 as a
// rescaled one does: the eps predictor's samples and bound were all NaN there, without a word.
// It is refused before the run, naming key T and, where one exists, the smallest T that works.
func TestChainsEndingAtAlphaBarZeroNeedVOrX0(t *testing.T) {
	for _, c := range []struct {
		sets []string
		want string // "" for accepted
	}{
		{[]string{"schedule.name=linear", "schedule.T=20"},
			`key "T" in [schedule]: linear at T = 20 gives beta_20 = 1, so alpha_bar_T = 0 (T >= 21 avoids it); that needs [predictor] name = "v" or "x0"`},
		{[]string{"schedule.name=linear", "schedule.T=20", "predictor.name=mu"}, `(T >= 21 avoids it); that needs [predictor] name = "v" or "x0"`},
		{[]string{"schedule.name=linear", "schedule.T=50", "schedule.beta_end=0.05"}, "linear at T = 50 gives beta_50 = 1, so alpha_bar_T = 0 (T >= 51 avoids it)"},
		{[]string{"schedule.name=jsd"}, `key "T" in [schedule]: jsd at T = 20 gives beta_20 = 1, so alpha_bar_T = 0; that needs`},
		{[]string{"schedule.name=const", "schedule.beta=1"}, "const at T = 20 gives beta_1 = 1"},
		{[]string{"schedule.name=const", "schedule.beta=0.999", "schedule.T=200"}, "const at T = 200 gives alpha_bar underflows to 0"},
		{[]string{"schedule.name=linear", "schedule.T=20", "predictor.name=v", "sample.name=heun"}, "heun cannot start at sigma = infinity (key \"T\" in [schedule]"},
		{[]string{"schedule.name=const", "schedule.beta=1", "schedule.zero_terminal_snr=true", "predictor.name=v"},
			"[schedule] zero_terminal_snr: const at T = 20 cannot be rescaled"},
		{[]string{"schedule.name=const", "schedule.beta=1e-300", "schedule.zero_terminal_snr=true", "predictor.name=v"},
			"[schedule] zero_terminal_snr: const at T = 20 cannot be rescaled"},
		{[]string{"schedule.name=linear", "schedule.T=21"}, ""},
		{[]string{"schedule.name=linear", "schedule.T=20", "predictor.name=v"}, ""},
		{[]string{"schedule.name=jsd", "predictor.name=x0"}, ""},
	} {
		trials, err := spec.Parse("z.toml", []byte(tiny), c.sets)
		if err != nil {
			t.Fatal(err)
		}
		_, err = engine.Prepare(trials[0])
		if c.want == "" {
			if err != nil {
				t.Errorf("%v: %v", c.sets, err)
			}
		} else if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want an error saying %q", c.sets, err, c.want)
		}
	}
}

// Several EMA rates: training and the first EMA's numbers are a single-rate run's bit for bit,
// and each further EMA is evaluated under KEY@emaRATE.
func TestSeveralEMARates(t *testing.T) {
	h := newHarness(t)
	sets := []string{`eval.metrics=["frechet", "nll"]`, "train.log_every=1"}
	one := h.run(h.jobs(tiny, append(sets, "train.ema=0.9")...)[0])
	two := h.run(h.jobs(tiny, append(sets, "train.ema=[0.9, 0.99]")...)[0])
	if one.Status != results.StatusFinished || two.Status != results.StatusFinished {
		t.Fatalf("%s %v; %s %v", one.Status, one.Err, two.Status, two.Err)
	}
	sameHistory(t, "losses with a second EMA", h.losses(two.RunID), h.losses(one.RunID))
	for _, k := range []string{"frechet", "nll_nats_per_dim", "final_loss"} {
		if math.Float64bits(one.Summaries[k]) != math.Float64bits(two.Summaries[k]) {
			t.Errorf("%s: %v with one EMA, %v with two", k, one.Summaries[k], two.Summaries[k])
		}
	}
	for _, k := range []string{"frechet@ema0.99", "nll_nats_per_dim@ema0.99"} {
		if v, ok := two.Summaries[k]; !ok || v == two.Summaries[strings.TrimSuffix(k, "@ema0.99")] {
			t.Errorf("%s = %v (present %v): want the second EMA's own value", k, v, ok)
		}
	}
	trials, err := spec.Parse("e.toml", []byte(tiny), []string{"train.ema=[0.9, 0]"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := engine.Prepare(trials[0]); err == nil || !strings.Contains(err.Error(), "distinct rates") {
		t.Errorf("ema = [0.9, 0]: %v", err)
	}
}
