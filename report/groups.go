// Package report turns recorded runs into comparisons: runs grouped by setting (everything
// but the seed), each summary's mean, standard deviation and 95% confidence interval over
// seeds (Student t), the best group per metric, and renderings as text, Markdown, CSV, JSON
// and a self-contained HTML page with figures.
package report

import (
	"maps"
	"math"
	"slices"
	"sort"
	"strings"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"

	"github.com/ddpm-runner/ddpm-runner/plugins"
	"github.com/ddpm-runner/ddpm-runner/results"
)

// Stat summarises one metric over the finished runs of a group.
type Stat struct {
	N      int       `json:"n"`
	Mean   float64   `json:"mean"`
	Std    float64   `json:"std"`  // sample standard deviation (n-1); NaN for one run
	CI95   float64   `json:"ci95"` // half-width of the 95% Student-t interval; NaN for one run
	Best   bool      `json:"best"` // the best mean of this metric among the groups
	Values []float64 `json:"values"`
}

// Group is the runs of one setting: same spec and same settings hash, any seed.
type Group struct {
	Spec      string            `json:"spec"`
	GroupHash string            `json:"group_hash"`
	Label     string            `json:"label"`  // the params that set it apart from the other groups
	Params    map[string]string `json:"params"` // the params all its runs share
	Runs      []*results.Run    `json:"-"`
	RunIDs    []int64           `json:"run_ids"`
	Status    map[string]int    `json:"status"`
	Stats     map[string]*Stat  `json:"stats"`
}

// Summarize computes mean, std and the 95% CI half-width t_{0.975, n-1} s / sqrt(n).
func Summarize(values []float64) *Stat {
	s := &Stat{N: len(values), Values: values, Std: math.NaN(), CI95: math.NaN(), Mean: math.NaN()}
	if len(values) == 0 {
		return s
	}
	s.Mean = stat.Mean(values, nil)
	if len(values) > 1 {
		s.Std = stat.StdDev(values, nil)
		t := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(len(values) - 1)}.Quantile(0.975)
		s.CI95 = t * s.Std / math.Sqrt(float64(len(values)))
	}
	return s
}

// KeepMetrics drops every statistic whose key is not listed (all are kept for an empty list).
func KeepMetrics(groups []*Group, keys []string) {
	if len(keys) == 0 {
		return
	}
	keep := map[string]bool{}
	for _, k := range keys {
		keep[k] = true
	}
	for _, g := range groups {
		for k := range g.Stats {
			if !keep[k] {
				delete(g.Stats, k)
			}
		}
	}
}

// GroupRuns groups runs by spec and settings hash, in order of first appearance, labels
// each group by the params that differ between groups, and marks the best mean per metric.
func GroupRuns(runs []*results.Run) []*Group {
	groups := labelled(runs)
	for _, g := range groups {
		values := map[string][]float64{}
		for _, r := range g.Runs {
			if r.Status != results.StatusFinished {
				continue
			}
			for k, v := range r.Summaries {
				if !math.IsNaN(v) {
					values[k] = append(values[k], v)
				}
			}
		}
		for k, v := range values {
			g.Stats[k] = Summarize(v)
		}
	}
	markBest(groups)
	return groups
}

// GroupLabels is the label of each run's group, by run id, as GroupRuns labels them, without
// their statistics (for a table of thousands of runs).
func GroupLabels(runs []*results.Run) map[int64]string {
	out := make(map[int64]string, len(runs))
	for _, g := range labelled(runs) {
		for _, r := range g.Runs {
			out[r.ID] = g.Label
		}
	}
	return out
}

// labelled groups runs by spec and settings hash, in order of first appearance, and labels
// each group by the params that differ between groups.
func labelled(runs []*results.Run) []*Group {
	var groups []*Group
	index := map[string]*Group{}
	for _, r := range runs {
		key := r.Spec + "\x00" + r.GroupHash
		g, ok := index[key]
		if !ok {
			g = &Group{Spec: r.Spec, GroupHash: r.GroupHash, Status: map[string]int{}, Stats: map[string]*Stat{}, Params: map[string]string{}}
			for k, v := range r.Params {
				if k != "seed" {
					g.Params[k] = v
				}
			}
			index[key] = g
			groups = append(groups, g)
		}
		g.Runs = append(g.Runs, r)
		g.RunIDs = append(g.RunIDs, r.ID)
		g.Status[r.Status]++
	}
	differing := DifferingParams(groups)
	for _, g := range groups {
		var parts []string
		for _, k := range differing {
			parts = append(parts, k+"="+g.Params[k])
		}
		g.Label = strings.Join(parts, " ")
		if g.Label == "" {
			g.Label = g.Spec
		}
	}
	return groups
}

// DifferingParams lists the params (not the seed) that take different values in different groups.
func DifferingParams(groups []*Group) []string {
	vals := map[string]map[string]bool{}
	for _, g := range groups {
		for k, v := range g.Params {
			if vals[k] == nil {
				vals[k] = map[string]bool{}
			}
			vals[k][v] = true
		}
	}
	// A key that only some groups have belongs to a plugin that the others do not use; the
	// plugin's name already tells them apart, so only values that differ count.
	var out []string
	for k, vs := range vals {
		if len(vs) > 1 {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// markBest marks the best mean of each ranked metric whose values all groups computed on the
// same terms (see metricTerms). With more than two groups the mark
// also says that the best group differs from the runner-up: it is kept only where the test
// of best against runner-up (paired over shared seeds, else Welch), Holm-corrected over the
// table's metrics, rejects equality at the 5% level. (Two groups: runner report diff.)
func markBest(groups []*Group) {
	if len(groups) < 2 {
		return
	}
	keys := map[string]bool{}
	for _, g := range groups {
		for k := range g.Stats {
			keys[k] = true
		}
	}
	type contest struct {
		best *Stat
		p    float64
	}
	var contests []contest
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		lower, known := plugins.Ranked(k)
		if !known {
			continue
		}
		var ranked []*Group
		for _, g := range groups {
			// An infinite mean is no measurement to rank (nor one to rank against).
			if s := g.Stats[k]; s != nil && !math.IsNaN(s.Mean) && !math.IsInf(s.Mean, 0) {
				ranked = append(ranked, g)
			}
		}
		if len(ranked) == 0 {
			continue
		}
		sort.SliceStable(ranked, func(i, j int) bool {
			if lower {
				return ranked[i].Stats[k].Mean < ranked[j].Stats[k].Mean
			}
			return ranked[i].Stats[k].Mean > ranked[j].Stats[k].Mean
		})
		if incomparable(ranked, k) {
			continue // values computed on different terms are shown, never ranked
		}
		best := ranked[0].Stats[k]
		if len(groups) == 2 || len(ranked) == 1 {
			best.Best = true
			continue
		}
		contests = append(contests, contest{best, bestVersusRunnerUp(ranked[0], ranked[1], k)})
	}
	ps := make([]float64, len(contests))
	for i, c := range contests {
		ps[i] = c.p
	}
	for i, adj := range Holm(ps) {
		contests[i].best.Best = adj < alpha
	}
}

// incomparable says whether a metric's values were computed on different terms (sample
// counts, held-out sizes, featurizers) in some of the groups.
func incomparable(groups []*Group, key string) bool {
	for _, g := range groups[1:] {
		if termsDiffer(groups[0], g, key) != "" {
			return true
		}
	}
	return false
}

// bestVersusRunnerUp is the p-value of the difference between two groups' values of a metric:
// paired over their shared seeds when there are two or more, else Welch's unpaired test.
func bestVersusRunnerUp(a, b *Group, key string) float64 {
	if d := pairedDiffs(a, b, key); len(d) >= 2 {
		_, _, _, p := PairedT(d)
		return p
	}
	return WelchT(a.Stats[key].Values, b.Stats[key].Values)
}

// Holm adjusts p-values for testing them together (Holm 1979): the i-th smallest becomes
// max over j <= i of min(1, (m - j + 1) p_(j)). NaN (no test) stays NaN and does not count.
func Holm(ps []float64) []float64 {
	out := make([]float64, len(ps))
	var idx []int
	for i, p := range ps {
		out[i] = math.NaN()
		if !math.IsNaN(p) {
			idx = append(idx, i)
		}
	}
	sort.SliceStable(idx, func(a, b int) bool { return ps[idx[a]] < ps[idx[b]] })
	m, running := len(idx), 0.0
	for rank, i := range idx {
		running = math.Max(running, math.Min(1, float64(m-rank)*ps[i]))
		out[i] = running
	}
	return out
}

// MetricKeys lists every summary key of the groups, sorted, ranked metrics first.
func MetricKeys(groups []*Group) []string {
	keys := map[string]bool{}
	for _, g := range groups {
		for k := range g.Stats {
			keys[k] = true
		}
	}
	var ranked, other []string
	for k := range keys {
		if _, known := plugins.Ranked(k); known {
			ranked = append(ranked, k)
		} else {
			other = append(other, k)
		}
	}
	sort.Strings(ranked)
	sort.Strings(other)
	return append(ranked, other...)
}
