package report

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"

	"github.com/ddpm-runner/ddpm-runner/plugins"
	"github.com/ddpm-runner/ddpm-runner/results"
)

// Trials with the same seed in two groups see the same data order and the same timestep and
// noise draws wherever the settings allow (each is a function of the seed and the step, not
// of the network), so a difference between two groups is tested on the per-seed
// differences: a paired Student t test, with its 95% interval. It is more powerful than
// comparing the two groups' means when the seeds are correlated, as they are here.

// alpha is the significance level of every verdict.
const alpha = 0.05

// PairedDiff is one metric compared between groups A and B on the seeds both ran.
type PairedDiff struct {
	Metric     string  `json:"metric"`
	MeanDiff   float64 `json:"mean_diff"` // B - A
	CILow      float64 `json:"ci_low"`
	CIHigh     float64 `json:"ci_high"`
	PValue     float64 `json:"p_value"`
	NPairs     int     `json:"n_pairs"`
	Verdict    string  `json:"verdict"`
	Comparable bool    `json:"comparable"`
	Reason     string  `json:"reason,omitempty"`
	// SeedsFor80 is, for a difference not established, how many seeds the observed
	// difference and spread suggest for 80% power (0 when it cannot be said).
	SeedsFor80 int `json:"seeds_for_80_power,omitempty"`
	// Bootstrap, for the bound, resamples the held-out examples (nil without per-example
	// values): how much the finite held-out set moves the difference.
	Bootstrap *Bootstrap `json:"bootstrap_over_examples,omitempty"`
}

// MarshalJSON writes NaN (no test possible) as null.
func (d PairedDiff) MarshalJSON() ([]byte, error) {
	type plain PairedDiff
	finite := func(v float64) *float64 {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil
		}
		return &v
	}
	return json.Marshal(struct {
		plain
		MeanDiff *float64 `json:"mean_diff"`
		CILow    *float64 `json:"ci_low"`
		CIHigh   *float64 `json:"ci_high"`
		PValue   *float64 `json:"p_value"`
	}{plain(d), finite(d.MeanDiff), finite(d.CILow), finite(d.CIHigh), finite(d.PValue)})
}

// Diff compares every ranked metric both groups recorded, B - A, on their shared seeds; with
// the runs' artifacts, the bound also by a bootstrap over the held-out examples they kept.
func Diff(arts *Artifacts, a, b *Group) []PairedDiff {
	var out []PairedDiff
	for _, key := range MetricKeys([]*Group{a, b}) {
		if _, ranked := plugins.Ranked(key); !ranked || a.Stats[key] == nil || b.Stats[key] == nil {
			continue
		}
		d := PairedDiff{Metric: key, Comparable: true}
		if reason := termsDiffer(a, b, key); reason != "" {
			out = append(out, untested(d, reason, "not comparable: "))
			continue
		}
		if inf := infiniteValue(a, b, key); inf != "" {
			out = append(out, untested(d, inf, "cannot test: "))
			continue
		}
		diffs := pairedDiffs(a, b, key)
		d.NPairs = len(diffs)
		d.MeanDiff, d.CILow, d.CIHigh, d.PValue = PairedT(diffs)
		d.Verdict, d.SeedsFor80 = verdict(key, diffs, d)
		if bs := boundBootstrap(arts, a, b, key); bs != nil {
			d.Bootstrap = bs
			d.Verdict += fmt.Sprintf("; over the %d held-out examples (bootstrap): 95%% CI [%s, %s], p = %s",
				bs.Examples, num(bs.CILow), num(bs.CIHigh), pval(bs.PValue))
		}
		out = append(out, d)
	}
	return out
}

// infiniteValue names the first finished run of a or b whose value of key is infinite, or
// says "": no difference, interval or test is defined with one, so none is made up.
func infiniteValue(a, b *Group, key string) string {
	for _, g := range []struct {
		name string
		g    *Group
	}{{"A", a}, {"B", b}} {
		for _, r := range g.g.Runs {
			if v, ok := r.Summaries[key]; ok && r.Status == results.StatusFinished && math.IsInf(v, 0) {
				return fmt.Sprintf("run %d (seed %d, in %s) recorded %s = %s", r.ID, r.Seed, g.name, key, num(v))
			}
		}
	}
	return ""
}

// seedValues are a group's finished runs' values of a metric by seed (the first run of a seed).
func seedValues(g *Group, key string) map[int]float64 {
	out := map[int]float64{}
	for _, r := range g.Runs {
		v, ok := r.Summaries[key]
		if r.Status != results.StatusFinished || !ok || math.IsNaN(v) {
			continue
		}
		if _, seen := out[r.Seed]; !seen {
			out[r.Seed] = v
		}
	}
	return out
}

// pairedDiffs are B - A for each seed both groups ran, in seed order.
func pairedDiffs(a, b *Group, key string) []float64 {
	va, vb := seedValues(a, key), seedValues(b, key)
	var seeds []int
	for s := range va {
		if _, ok := vb[s]; ok {
			seeds = append(seeds, s)
		}
	}
	sort.Ints(seeds)
	out := make([]float64, len(seeds))
	for i, s := range seeds {
		out[i] = vb[s] - va[s]
	}
	return out
}

// PairedT is the paired t test of differences d against 0: their mean, its 95% interval and
// the two-sided p-value (NaN with fewer than two pairs; 0 or 1 for differences without
// spread, as the sign of their mean says).
func PairedT(d []float64) (mean, lo, hi, p float64) {
	n := len(d)
	if n == 0 {
		return math.NaN(), math.NaN(), math.NaN(), math.NaN()
	}
	mean = stat.Mean(d, nil)
	if n < 2 {
		return mean, math.NaN(), math.NaN(), math.NaN()
	}
	se := stat.StdDev(d, nil) / math.Sqrt(float64(n))
	if se == 0 {
		if mean == 0 {
			return 0, 0, 0, 1
		}
		return mean, mean, mean, 0
	}
	t := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(n - 1)}
	q := t.Quantile(1 - alpha/2)
	return mean, mean - q*se, mean + q*se, 2 * t.CDF(-math.Abs(mean/se))
}

// WelchT is the unpaired two-sample t test (Welch) of b against a: the two-sided p-value.
func WelchT(a, b []float64) float64 {
	if len(a) < 2 || len(b) < 2 {
		return math.NaN()
	}
	va, vb := stat.Variance(a, nil)/float64(len(a)), stat.Variance(b, nil)/float64(len(b))
	if va+vb == 0 {
		return math.NaN()
	}
	t := (stat.Mean(b, nil) - stat.Mean(a, nil)) / math.Sqrt(va+vb)
	df := (va + vb) * (va + vb) / (va*va/float64(len(a)-1) + vb*vb/float64(len(b)-1))
	return 2 * distuv.StudentsT{Mu: 0, Sigma: 1, Nu: df}.CDF(-math.Abs(t))
}

// SeedsForPower is how many seeds a paired test needs for 80% power at the 5% level, for a
// mean difference and a per-seed spread: ((z_0.975 + z_0.8) sd / |mean|)^2, plus one seed for
// the t distribution's heavier tails (the usual normal approximation). 0 when the spread or
// the difference is 0.
func SeedsForPower(mean, sd float64) int {
	if sd == 0 || mean == 0 || math.IsNaN(mean) || math.IsNaN(sd) {
		return 0
	}
	z := distuv.UnitNormal
	n := math.Pow((z.Quantile(1-alpha/2)+z.Quantile(0.8))*sd/math.Abs(mean), 2)
	return int(math.Ceil(n)) + 1
}

// verdict says in words what the paired test found.
func verdict(key string, d []float64, r PairedDiff) (string, int) {
	unit := ""
	if rep, ok := plugins.Reported(key); ok && rep.Unit != "" {
		unit = " " + rep.Unit
	}
	seeds := fmt.Sprintf("%d seed%s", r.NPairs, map[bool]string{true: "", false: "s"}[r.NPairs == 1])
	if r.NPairs < 2 {
		return fmt.Sprintf("cannot test: %s in common (a paired test needs two)", seeds), 0
	}
	if r.PValue < alpha {
		dir, lo, hi := "higher", r.CILow, r.CIHigh
		if r.MeanDiff < 0 {
			dir, lo, hi = "lower", -r.CIHigh, -r.CILow
		}
		return fmt.Sprintf("B %s by %s%s, 95%% CI [%s, %s], p = %s, %s", dir, num(math.Abs(r.MeanDiff)), unit, num(lo), num(hi), pval(r.PValue), seeds), 0
	}
	need := SeedsForPower(r.MeanDiff, stat.StdDev(d, nil))
	msg := fmt.Sprintf("not established: B - A = %s%s, 95%% CI [%s, %s], p = %s, %s", signed(r.MeanDiff), unit, num(r.CILow), num(r.CIHigh), pval(r.PValue), seeds)
	if need > 0 {
		msg += fmt.Sprintf("; about %d seeds would give 80%% power at this difference", need)
	}
	return msg, need
}

func num(v float64) string { return strconv.FormatFloat(v, 'g', 3, 64) }

// signed writes v with its sign, + included (FormatFloat already signs an infinity).
func signed(v float64) string {
	if v >= 0 && !math.IsInf(v, 1) {
		return "+" + num(v)
	}
	return num(v)
}
func pval(p float64) string {
	if p < 0.001 {
		return "< 0.001"
	}
	return strconv.FormatFloat(p, 'f', 3, 64)
}

// metricTerms are what a value depends on besides the model, from a run's recorded settings
// and provenance, as its declaration's source says: for values computed from samples, the
// number of samples, the reference (held-out) set's size, the featurizer and the Inception
// metrics' reference; for values of
// the weights alone (the bound), the held-out set's size. The sampler and NFE are what a
// sampler comparison varies, so they are shown (params, nfe) but never make values
// incomparable.
func metricTerms(r *results.Run, key string) map[string]string {
	rep, _ := plugins.Reported(key)
	switch rep.From {
	case plugins.FromWeights:
		return map[string]string{"held-out examples": r.Params["eval.n"]}
	case plugins.FromSamples:
	default:
		return nil
	}
	var feats, refs []string
	for k, v := range r.Env {
		if strings.HasPrefix(k, "metric.") && strings.HasSuffix(k, ".featurizer") {
			feats = append(feats, v)
		}
		if strings.HasPrefix(k, "metric.") && strings.HasSuffix(k, ".reference") {
			refs = append(refs, v)
		}
	}
	slices.Sort(feats)
	terms := map[string]string{"samples": r.Params["sample.n"], "held-out examples": r.Params["eval.n"],
		"featurizer": strings.Join(slices.Compact(feats), ",")}
	if len(refs) > 0 {
		// The Inception metrics' reference (a data split and its content, or a statistics file).
		slices.Sort(refs)
		terms["reference"] = strings.Join(slices.Compact(refs), ",")
	}
	return terms
}

// termsDiffer says which term of a metric differs between (or within) two groups' finished
// runs, or "".
func termsDiffer(a, b *Group, key string) string {
	seen := map[string]map[string]string{} // term -> value -> group
	for _, g := range []struct {
		name string
		g    *Group
	}{{"A", a}, {"B", b}} {
		for _, r := range g.g.Runs {
			if r.Status != results.StatusFinished {
				continue
			}
			for term, v := range metricTerms(r, key) {
				if seen[term] == nil {
					seen[term] = map[string]string{}
				}
				if _, ok := seen[term][v]; !ok {
					seen[term][v] = g.name
				}
			}
		}
	}
	for _, term := range slices.Sorted(func(yield func(string) bool) {
		for k := range seen {
			if !yield(k) {
				return
			}
		}
	}) {
		if len(seen[term]) > 1 {
			var parts []string
			for _, v := range slices.Sorted(func(yield func(string) bool) {
				for k := range seen[term] {
					if !yield(k) {
						return
					}
				}
			}) {
				parts = append(parts, fmt.Sprintf("%s in %s", v, seen[term][v]))
			}
			return fmt.Sprintf("%s was computed with different %s (%s)", key, term, strings.Join(parts, ", "))
		}
	}
	return ""
}

// untested is a comparison that was not made, for the reason given: no difference, interval
// or p-value, and a verdict that says why.
func untested(d PairedDiff, reason, verdictPrefix string) PairedDiff {
	d.Comparable, d.Reason = false, reason
	d.MeanDiff, d.CILow, d.CIHigh, d.PValue = math.NaN(), math.NaN(), math.NaN(), math.NaN()
	d.Verdict = verdictPrefix + reason
	return d
}

// FindGroups returns the two groups whose hashes start with the prefixes a and b, as
// runner report diff A B names them; the error says which prefix matched none, several, or
// the same group as the other.
func FindGroups(groups []*Group, a, b string) (*Group, *Group, error) {
	var pair [2]*Group
	for i, prefix := range []string{a, b} {
		var found []*Group
		for _, g := range groups {
			if prefix != "" && strings.HasPrefix(g.GroupHash, prefix) {
				found = append(found, g)
			}
		}
		switch len(found) {
		case 0:
			return nil, nil, fmt.Errorf("no group's hash starts with %q (runner report --format json --view groups lists them)", prefix)
		case 1:
			pair[i] = found[0]
		default:
			return nil, nil, fmt.Errorf("%d groups' hashes start with %q; give more of it", len(found), prefix)
		}
	}
	if pair[0] == pair[1] {
		return nil, nil, fmt.Errorf("%q and %q are both group %s; give two different groups (runner report --format json --view groups lists them)",
			a, b, pair[0].GroupHash)
	}
	return pair[0], pair[1], nil
}

// Verdicts are the rows of a diff that runner report diff prints, each metric with its
// verdict in words: the metrics of the model, not of the machine's speed.
func Verdicts(rows []PairedDiff) [][2]string {
	var out [][2]string
	for _, r := range rows {
		if plugins.Reproducible(r.Metric) {
			out = append(out, [2]string{r.Metric, r.Verdict})
		}
	}
	return out
}
