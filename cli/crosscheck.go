package cli

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"

	"github.com/ddpm-runner/ddpm-runner/plugins"
	"github.com/ddpm-runner/ddpm-runner/results"
)

// Cross-backend tolerances: how far two backends may differ on the same trial, as relative
// differences |b - a| / |a|. Both runs start from the same weights (runs off the go backend
// initialise them there) and see the same batches, timesteps and noise (drawn on the host),
// so they differ only by float32 rounding: sums and products taken in another order, and
// transcendental functions rounded differently. A reordered float32 sum of n terms moves by
// about sqrt(n) units of roundoff (u = 2^-24 = 6.0e-8) of the sum of magnitudes: the first
// loss of experiments/crosscheck_unet.toml, a mean of 32 x 196 = 6272 squared errors after
// layers whose contractions have at most 9 x 64 = 576 terms, should move by a few times
// sqrt(6272) u, about 1e-5 of itself. Training then feeds each step's difference into the
// next step's weights, and the difference grows with the steps taken.
//
// Measured here on that spec, between the go backend's two float32 implementations (the
// AVX2 kernel with direct convolutions, and GoMLX's stock kernel with im2col convolutions;
// `runner run experiments/crosscheck_unet.toml` with and without --fast-matmul=false), the
// first 20 losses differed by at most 6.4e-7, step 40 by 1.2e-4, step 120 by 1.8e-3, step 200
// by 2.3e-2; the final loss by 6.5e-3 and the bound by 8.8e-3. The tolerances leave room
// for a GPU's other reduction trees and function approximations: 1e-4 for each of the first
// 20 losses (150 times the spread measured, ten times the estimate above), 5e-2 for the final
// loss and the bound (about eight and six times the spread measured after 200 steps). TF32
// products (10-bit mantissas) would break the first: crosscheck is to be run with them off.
var crossTolerance = struct {
	early, final, nll float64
}{early: 1e-4, final: 5e-2, nll: 5e-2}

// earlySteps is how many of the first losses are compared one by one.
const earlySteps = 20

// agreement is one compared quantity of two runs of the same trial.
type agreement struct {
	Quantity  string  `json:"quantity"`
	A         float64 `json:"a"`
	B         float64 `json:"b"`
	RelDiff   float64 `json:"rel_diff"`
	Tolerance float64 `json:"tolerance"`
	OK        bool    `json:"ok"`
}

// newAgreement compares a and b. Two NaNs agree (both runs found the quantity undefined);
// one NaN or infinity against a number does not.
func newAgreement(what string, a, b, tol float64) agreement {
	rel := math.Abs(b-a) / math.Max(math.Abs(a), 1e-30)
	if a == b || math.IsNaN(a) && math.IsNaN(b) {
		rel = 0
	} else if math.IsNaN(rel) {
		rel = math.Inf(1)
	}
	return agreement{Quantity: what, A: a, B: b, RelDiff: rel, Tolerance: tol, OK: rel <= tol}
}

// MarshalJSON writes a non-finite value (which JSON cannot hold) as null.
func (a agreement) MarshalJSON() ([]byte, error) {
	finite := func(v float64) *float64 {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil
		}
		return &v
	}
	return json.Marshal(struct {
		Quantity  string   `json:"quantity"`
		A         *float64 `json:"a"`
		B         *float64 `json:"b"`
		RelDiff   *float64 `json:"rel_diff"`
		Tolerance float64  `json:"tolerance"`
		OK        bool     `json:"ok"`
	}{a.Quantity, finite(a.A), finite(a.B), finite(a.RelDiff), a.Tolerance, a.OK})
}

// compareRuns compares two finished runs of the same trial: each of the first earlySteps
// losses, the final loss and the bound, if the runs evaluated it.
func compareRuns(store *results.Store, a, b int64) ([]agreement, error) {
	la, err := store.History(a, "loss")
	if err != nil {
		return nil, err
	}
	lb, err := store.History(b, "loss")
	if err != nil {
		return nil, err
	}
	if len(la) != len(lb) || len(la) < earlySteps {
		return nil, fmt.Errorf("runs %d and %d logged %d and %d losses: compare needs the same trial with every step logged "+
			"(train.log_every = 1) and at least %d steps", a, b, len(la), len(lb), earlySteps)
	}
	var out []agreement
	for i := range earlySteps {
		if la[i].Step != lb[i].Step {
			return nil, fmt.Errorf("runs %d and %d logged different steps (%d, %d)", a, b, la[i].Step, lb[i].Step)
		}
		out = append(out, newAgreement(fmt.Sprintf("loss at step %d", la[i].Step), la[i].Value, lb[i].Value, crossTolerance.early))
	}
	ra, err := store.Run(a)
	if err != nil {
		return nil, err
	}
	rb, err := store.Run(b)
	if err != nil {
		return nil, err
	}
	out = append(out, newAgreement("final_loss", ra.Summaries["final_loss"], rb.Summaries["final_loss"], crossTolerance.final))
	// The bound (bits/dim on discrete data, nats/dim on continuous data): the value declared
	// as the mean of the per-example bound, of the run's own weights.
	for _, key := range slices.Sorted(maps.Keys(ra.Summaries)) {
		if rep, ok := plugins.Reported(key); ok && rep.Key == key && rep.PerExampleBound != 0 {
			out = append(out, newAgreement(key, ra.Summaries[key], rb.Summaries[key], crossTolerance.nll))
			break
		}
	}
	return out, nil
}
