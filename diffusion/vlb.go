package diffusion

import (
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // graph code reads like the equations
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// The variational bound (Ho et al. 2020, eq. 5; Improved DDPM, eqs. 4-6):
//
//	L_vlb = L_0 + L_1 + ... + L_{T-1} + L_T
//	L_0     = -log p(x_0 | x_1)                                 (the decoder)
//	L_{t-1} = KL(q(x_{t-1} | x_t, x_0) || p(x_{t-1} | x_t))     (1 < t <= T)
//	L_T     = KL(q(x_T | x_0) || N(0, I))                       (no parameters: PriorKL)
//
// VLBTerm is the one function that computes L_t from the network output: the losses train
// on it, every run logs it, and the bound (bound.go) sums it over t.

// VLBTerm is L_t per example in nats per dimension, from the network output of the batch b
// (improved-diffusion's _vb_terms_bpd, in nats): p(x_{t-1} | x_t) from PMeanVariance, then
// VLBTermOf. With freezeMean the mean part of the output is behind a stop-gradient, so that
// a loss term trains only the variance; clip clips x_0-hat as the sampler does (the bound
// on image data).
func (d *Diffusion) VLBTerm(b Batch, clip, freezeMean bool) *Node {
	meanOut, varOut := d.Split(b.Output)
	if freezeMean {
		meanOut = StopGradient(meanOut)
	}
	mean, logVar, _ := d.PMeanVariance(meanOut, varOut, b.Xt, b.T, clip)
	return d.VLBTermOf(b.X0, b.Xt, b.T, mean, logVar, b.DecoderRows)
}

// VLBTermOf is L_t per example at step t, in nats per dimension, for a reverse distribution
// p(x_{t-1} | x_t) = N(modelMean, exp(modelLogVar)): L_{t-1} = KL(q(x_{t-1} | x_t, x_0) ||
// p(x_{t-1} | x_t)) for t > 0 (code index), and the decoder term L_0 = -log p(x_0 | x_1) at
// t = 0 (discretized for 8-bit data, a density for continuous data).
//
// decoderRows, if not nil, lists the rows of the batch whose t is 0 (int32 [S], -1 in unused
// slots; see DecoderRows): the decoder term is then computed for those rows only. In a
// training batch few rows have t = 0, and the discretized decoder (float64 erf and logs of
// every value) costs more than the rest of the term, so this saves most of it. The result
// is bit-identical to decoderRows == nil, which computes the decoder for every row.
func (d *Diffusion) VLBTermOf(x0, xt, t, modelMean, modelLogVar, decoderRows *Node) *Node {
	trueMean, trueLogVar := d.QPosterior(x0, xt, t)
	kl := MeanFlat(NormalKL(trueMean, trueLogVar, modelMean, modelLogVar))
	var decoderNLL *Node
	batch := x0.Shape().Dimensions[0]
	if decoderRows == nil || decoderRows.Shape().Dimensions[0] >= batch {
		// Every row (DecoderRows's overflow variant lists the whole batch): computing the
		// term for each row directly avoids a [batch, batch] selection, which for a batch of
		// a million would not fit in memory.
		decoderNLL = d.decoderTerm(x0, modelMean, modelLogVar)
	} else {
		gatherAt := ExpandAxes(Max(decoderRows, ScalarZero(x0.Graph(), decoderRows.DType())), -1)
		rows := func(v *Node) *Node {
			if v.Rank() == 0 || v.Shape().Dimensions[0] != batch {
				return v // broadcast along the batch: the same for every row
			}
			return Gather(v, gatherAt)
		}
		selected := d.decoderTerm(rows(x0), rows(modelMean), rows(modelLogVar))
		// Back to [batch] through a one-hot selection and a sum: each row receives its own
		// value plus exact zeros, and unused slots (-1) match no row. Where, not a product
		// with the one-hot, so that an infinite value in an unused slot cannot leak a NaN.
		slots := decoderRows.Shape().Dimensions[0]
		match := Equal(ExpandAxes(decoderRows, -1), Iota(x0.Graph(), shapes.Make(decoderRows.DType(), slots, batch), 1))
		spread := BroadcastToDims(ExpandAxes(selected, -1), slots, batch)
		decoderNLL = ReduceSum(Where(match, spread, ZerosLike(spread)), 0)
	}
	isFirst := Equal(t, ScalarZero(t.Graph(), t.DType()))
	return Where(isFirst, decoderNLL, kl)
}

// decoderTerm is L_0 = -log p(x_0 | x_1) per example, in nats per dimension.
func (d *Diffusion) decoderTerm(x0, mean, logVar *Node) *Node {
	if d.Discrete {
		cdf := StandardNormalCDF
		if d.TanhDecoderCDF {
			cdf = ApproxStandardNormalCDF
		}
		return Neg(MeanFlat(discretizedLogLikelihood(x0, mean, logVar, cdf)))
	}
	return Neg(MeanFlat(GaussianLogDensity(x0, mean, logVar)))
}

// DecoderSlots is the size of DecoderRows's usual output: enough for the rows with t = 0 of
// almost every batch (on average batch/T of them).
const DecoderSlots = 8

// DecoderRows fills rows with the indices i where ts[i] == 0, followed by -1s, and returns
// the filled prefix to pass as Batch.DecoderRows: DecoderSlots long, or the whole batch
// when more rows than that have t = 0 (a second compiled graph, used rarely).
func DecoderRows(ts []int32, rows []int32) []int32 {
	n := min(DecoderSlots, len(ts))
	count := 0
	for _, t := range ts {
		if t == 0 {
			count++
		}
	}
	if count > n {
		n = len(ts)
	}
	rows = rows[:n]
	k := 0
	for i, t := range ts {
		if t == 0 {
			rows[k] = int32(i)
			k++
		}
	}
	for ; k < n; k++ {
		rows[k] = -1
	}
	return rows
}
