package report

import (
	"math"
	"math/rand/v2"
	"slices"

	"github.com/ddpm-runner/ddpm-runner/plugins"
	"github.com/ddpm-runner/ddpm-runner/results"
)

// bootstrapRounds is how many resamples the bootstrap interval takes (a fixed stream: the
// same runs give the same interval).
const bootstrapRounds = 2000

// Bootstrap is a difference of the bound resampled over the held-out examples: it says how
// much the finite held-out set, rather than the seeds, moves the difference.
type Bootstrap struct {
	Examples int     `json:"examples"`
	CILow    float64 `json:"ci_low"`
	CIHigh   float64 `json:"ci_high"`
	PValue   float64 `json:"p_value"`
}

// boundBootstrap compares the bound of two groups example by example: for each held-out
// example, B - A averaged over the seeds both ran (the held-out examples are the same for
// every run on the same data), then a percentile bootstrap over examples. It is made for a
// value declared as the mean of that per-example bound (Report.PerExampleBound), of the run's
// own weights (the records are not kept for another EMA's, KEY@emaRATE); nil for any other
// value or when the runs kept no per-example bound.
func boundBootstrap(arts *Artifacts, a, b *Group, key string) *Bootstrap {
	rep, ok := plugins.Reported(key)
	if !ok || rep.Key != key || rep.PerExampleBound == 0 {
		return nil
	}
	scale := rep.PerExampleBound
	if arts == nil || arts.Store == nil {
		return nil
	}
	ea, eb := examplesBySeed(arts, a), examplesBySeed(arts, b)
	var diff []float64
	pairs := 0
	for seed, va := range ea {
		vb, ok := eb[seed]
		if !ok || len(vb) != len(va) {
			continue
		}
		if diff == nil {
			diff = make([]float64, len(va))
		}
		if len(diff) != len(va) {
			return nil
		}
		for i := range va {
			diff[i] += (vb[i] - va[i]) * scale
		}
		pairs++
	}
	if pairs == 0 || len(diff) < 2 {
		return nil
	}
	for i := range diff {
		diff[i] /= float64(pairs)
	}
	rng := rand.New(rand.NewPCG(0xb007, uint64(len(diff))))
	means := make([]float64, bootstrapRounds)
	below, above := 0, 0
	for r := range means {
		var s float64
		for range diff {
			s += diff[rng.IntN(len(diff))]
		}
		means[r] = s / float64(len(diff))
		if means[r] <= 0 {
			below++
		}
		if means[r] >= 0 {
			above++
		}
	}
	slices.Sort(means)
	p := math.Min(1, 2*float64(min(below, above))/float64(bootstrapRounds))
	return &Bootstrap{Examples: len(diff), CILow: means[int(0.025*bootstrapRounds)], CIHigh: means[int(0.975*bootstrapRounds)-1],
		PValue: math.Max(p, 1/float64(bootstrapRounds))}
}

// examplesBySeed reads the per-example bound of a group's finished runs, by seed.
func examplesBySeed(arts *Artifacts, g *Group) map[int][]float64 {
	out := map[int][]float64{}
	for _, r := range g.Runs {
		if r.Status != results.StatusFinished {
			continue
		}
		if _, seen := out[r.Seed]; seen {
			continue
		}
		if vals := arts.column(r.ID, results.BoundExamplesArtifact, 1); vals != nil {
			out[r.Seed] = vals
		}
	}
	return out
}
