// Package report turns recorded runs into comparisons: runs grouped by setting (everything
// but the seed), each summary's mean, standard deviation and 95% confidence interval over
// seeds (Student t), the best group per metric, and renderings as text, Markdown, CSV, JSON
// and a self-contained HTML page with figures.
package report

import (
	"math"
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
	for k := range keys {
		lower, known := plugins.Ranked(k)
		if !known {
			continue
		}
		var best *Stat
		for _, g := range groups {
			s := g.Stats[k]
			if s == nil || math.IsNaN(s.Mean) {
				continue
			}
			if best == nil || (lower && s.Mean < best.Mean) || (!lower && s.Mean > best.Mean) {
				best = s
			}
		}
		if best != nil {
			best.Best = true
		}
	}
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
