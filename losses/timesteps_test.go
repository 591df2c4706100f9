package losses

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ddpm-runner/ddpm-runner/plugins"
)

func TestImportanceSamplerIsUniformUntilWarm(t *testing.T) {
	s := NewLossSecondMoment(4)
	rng := rand.New(rand.NewPCG(1, 1))
	ts, ws := make([]int32, 1000), make([]float32, 1000)
	s.Sample(rng, ts, ws)
	for _, w := range ws {
		if w != 1 {
			t.Fatalf("weight %g before warm-up, want 1", w)
		}
	}
	// Nine losses per t are not enough.
	for range 9 {
		s.Update([]int32{0, 1, 2, 3}, []float32{1, 1, 1, 1})
	}
	if s.WarmedUp() {
		t.Fatal("warmed up with 9 losses per t")
	}
}

func TestImportanceSamplerFollowsSecondMoment(t *testing.T) {
	T := 4
	s := NewLossSecondMoment(T)
	// Losses of t = 3 are 3x those of the others.
	for range HistoryPerT {
		s.Update([]int32{0, 1, 2, 3}, []float32{1, 1, 1, 3})
	}
	p := s.Probabilities()
	want := []float64{1, 1, 1, 3}
	var sum float64
	for _, v := range want {
		sum += v
	}
	for i := range p {
		w := want[i]/sum*(1-UniformProb) + UniformProb/float64(T)
		if math.Abs(p[i]-w) > 1e-12 {
			t.Errorf("p[%d] = %g, want %g", i, p[i], w)
		}
	}
	rng := rand.New(rand.NewPCG(2, 2))
	n := 200000
	ts, ws := make([]int32, n), make([]float32, n)
	s.Sample(rng, ts, ws)
	counts := make([]float64, T)
	var meanW float64
	for i, tt := range ts {
		counts[tt]++
		meanW += float64(ws[i])
		if math.Abs(float64(ws[i])-1/(float64(T)*p[tt])) > 1e-6 {
			t.Fatalf("weight %g for t=%d, want 1/(T p_t) = %g", ws[i], tt, 1/(float64(T)*p[tt]))
		}
	}
	for i := range counts {
		if math.Abs(counts[i]/float64(n)-p[i]) > 0.005 {
			t.Errorf("t=%d drawn %.4f of the time, p = %.4f", i, counts[i]/float64(n), p[i])
		}
	}
	// E[w] = sum p_t / (T p_t) = 1: the weighted loss stays unbiased.
	if math.Abs(meanW/float64(n)-1) > 0.01 {
		t.Errorf("mean weight %.4f, want 1", meanW/float64(n))
	}
}

// TestSamplerStateRoundTrip saves every sampler's state after some updates and restores it
// into a fresh sampler of the same name: both must then draw the same timesteps and weights.
// The default (uniform) comes first: its state once could not be restored at all.
func TestSamplerStateRoundTrip(t *testing.T) {
	for _, name := range []string{"uniform", "importance"} {
		t.Run(name, func(t *testing.T) {
			const T = 5
			a, err := plugins.NewTimestepSampler(name, T)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(3, 4))
			ts, ws := make([]int32, 64), make([]float32, 64)
			losses := make([]float32, 64)
			for range 20 {
				a.Sample(rng, ts, ws)
				for i := range losses {
					losses[i] = float32(ts[i]+1) * rng.Float32()
				}
				a.Update(ts, losses)
			}
			state, err := a.State()
			if err != nil {
				t.Fatal(err)
			}
			b, _ := plugins.NewTimestepSampler(name, T)
			if err := b.SetState(state); err != nil {
				t.Fatalf("restoring %s state: %v", name, err)
			}
			ta, wa := make([]int32, 256), make([]float32, 256)
			tb, wb := make([]int32, 256), make([]float32, 256)
			a.Sample(rand.New(rand.NewPCG(9, 9)), ta, wa)
			b.Sample(rand.New(rand.NewPCG(9, 9)), tb, wb)
			for i := range ta {
				if ta[i] != tb[i] || wa[i] != wb[i] {
					t.Fatalf("draw %d: restored sampler gave t=%d w=%g, original t=%d w=%g", i, tb[i], wb[i], ta[i], wa[i])
				}
			}
			// A state for another T or another sampler is refused.
			other, _ := plugins.NewTimestepSampler(name, T+1)
			if err := other.SetState(state); err == nil {
				t.Errorf("%s state for T=%d accepted by a sampler with T=%d", name, T, T+1)
			}
			for _, o := range []string{"uniform", "importance"} {
				if o == name {
					continue
				}
				s, _ := plugins.NewTimestepSampler(o, T)
				if err := s.SetState(state); err == nil {
					t.Errorf("%s state accepted by %s", name, o)
				}
			}
		})
	}
}
