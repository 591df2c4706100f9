package losses

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/ddpm-runner/ddpm-runner/plugins"
)

// Uniform draws t uniformly; every weight is 1.
type Uniform struct{ T int }

// Init implements plugins.TimestepSampler.
func (u *Uniform) Init(T int) { u.T = T }

// Sample implements plugins.TimestepSampler.
func (u *Uniform) Sample(rng *rand.Rand, t []int32, w []float32) {
	for i := range t {
		t[i] = int32(rng.IntN(u.T))
		w[i] = 1
	}
}

// Update implements plugins.TimestepSampler; uniform sampling keeps no state.
func (*Uniform) Update([]int32, []float32) {}

// LossFree implements plugins.LossFreeSampler: uniform draws never look at the losses.
func (*Uniform) LossFree() bool { return true }

// State implements plugins.TimestepSampler: uniform sampling keeps only T, recorded so that
// a resume with another T is caught.
func (u *Uniform) State() ([]byte, error) {
	return json.Marshal(samplerState{Sampler: "uniform", T: u.T})
}

// SetState implements plugins.TimestepSampler.
func (u *Uniform) SetState(b []byte) error {
	var st samplerState
	if err := decodeState(b, &st, "uniform", u.T); err != nil {
		return err
	}
	return nil
}

// samplerState is the saved form of every timestep sampler: which one, its T, and its own
// fields (none for uniform).
type samplerState struct {
	Sampler string      `json:"sampler"`
	T       int         `json:"T"`
	History [][]float64 `json:"history,omitempty"`
	Count   []int       `json:"count,omitempty"`
	Next    []int       `json:"next,omitempty"`
}

func decodeState(b []byte, st *samplerState, sampler string, T int) error {
	if err := json.Unmarshal(b, st); err != nil {
		return fmt.Errorf("timestep sampler state: %w", err)
	}
	if st.Sampler == "" {
		st.Sampler = sampler // written before samplers named themselves in their state
	}
	if st.Sampler != sampler || st.T != T {
		return fmt.Errorf("timestep sampler state is for %q with T = %d, this run has %q with T = %d",
			st.Sampler, st.T, sampler, T)
	}
	return nil
}

// LossSecondMoment is Improved DDPM's importance sampler: p_t proportional to
// sqrt(E[L_t^2]) over the last HistoryPerT losses seen at t, mixed with UniformProb of the
// uniform distribution; uniform until every t has a full history.
type LossSecondMoment struct {
	T       int
	History [][]float64 // per t, a ring of the last HistoryPerT losses
	Count   []int       // how many losses each t has seen (capped at HistoryPerT)
	Next    []int       // ring position per t
}

// HistoryPerT and UniformProb are Improved DDPM's settings.
const (
	HistoryPerT = 10
	UniformProb = 0.001
)

// NewLossSecondMoment returns an empty importance sampler for T steps.
func NewLossSecondMoment(T int) *LossSecondMoment {
	s := &LossSecondMoment{}
	s.Init(T)
	return s
}

// Init implements plugins.TimestepSampler: it empties the history for T steps.
func (s *LossSecondMoment) Init(T int) {
	s.T, s.History, s.Count, s.Next = T, make([][]float64, T), make([]int, T), make([]int, T)
	for i := range s.History {
		s.History[i] = make([]float64, HistoryPerT)
	}
}

// WarmedUp reports whether every timestep has a full history.
func (s *LossSecondMoment) WarmedUp() bool {
	for _, c := range s.Count {
		if c < HistoryPerT {
			return false
		}
	}
	return true
}

// Probabilities returns p_t.
func (s *LossSecondMoment) Probabilities() []float64 {
	p := make([]float64, s.T)
	if !s.WarmedUp() {
		for i := range p {
			p[i] = 1 / float64(s.T)
		}
		return p
	}
	var sum float64
	for i, h := range s.History {
		var sq float64
		for _, v := range h {
			sq += v * v
		}
		p[i] = math.Sqrt(sq / float64(len(h)))
		sum += p[i]
	}
	for i := range p {
		p[i] = p[i]/sum*(1-UniformProb) + UniformProb/float64(s.T)
	}
	return p
}

// Sample implements plugins.TimestepSampler by inverse-CDF sampling of p_t.
func (s *LossSecondMoment) Sample(rng *rand.Rand, t []int32, w []float32) {
	p := s.Probabilities()
	cdf := make([]float64, len(p))
	acc := 0.0
	for i, v := range p {
		acc += v
		cdf[i] = acc
	}
	for i := range t {
		u := rng.Float64() * acc
		k := 0
		lo, hi := 0, len(cdf)-1
		for lo < hi {
			mid := (lo + hi) / 2
			if cdf[mid] < u {
				lo = mid + 1
			} else {
				hi = mid
			}
		}
		k = lo
		t[i] = int32(k)
		w[i] = float32(1 / (float64(s.T) * p[k]))
	}
}

// State implements plugins.TimestepSampler: the loss history of every t.
func (s *LossSecondMoment) State() ([]byte, error) {
	return json.Marshal(samplerState{Sampler: "importance", T: s.T, History: s.History, Count: s.Count, Next: s.Next})
}

// SetState implements plugins.TimestepSampler.
func (s *LossSecondMoment) SetState(b []byte) error {
	var st samplerState
	if err := decodeState(b, &st, "importance", s.T); err != nil {
		return err
	}
	if len(st.History) != s.T || len(st.Count) != s.T || len(st.Next) != s.T {
		return fmt.Errorf("timestep sampler state: importance history for %d/%d/%d timesteps, want %d",
			len(st.History), len(st.Count), len(st.Next), s.T)
	}
	for t, h := range st.History {
		if len(h) != HistoryPerT || st.Count[t] < 0 || st.Count[t] > HistoryPerT || st.Next[t] < 0 || st.Next[t] >= HistoryPerT {
			return fmt.Errorf("timestep sampler state: importance history of t = %d is malformed", t)
		}
	}
	s.History, s.Count, s.Next = st.History, st.Count, st.Next
	return nil
}

// Update implements plugins.TimestepSampler.
func (s *LossSecondMoment) Update(t []int32, losses []float32) {
	for i, ti := range t {
		k := int(ti)
		s.History[k][s.Next[k]] = float64(losses[i])
		s.Next[k] = (s.Next[k] + 1) % HistoryPerT
		if s.Count[k] < HistoryPerT {
			s.Count[k]++
		}
	}
}

func init() {
	plugins.Register(plugins.Plugin{Kind: plugins.KindTimesteps, Name: "uniform",
		Doc: "t uniform on 0..T-1, every weight 1",
		New: func(plugins.Values) (plugins.TimestepSampler, error) { return &Uniform{}, nil }})
	plugins.Register(plugins.Plugin{Kind: plugins.KindTimesteps, Name: "importance",
		Doc: "Improved DDPM's loss-second-moment resampler (uniform until every t has 10 losses)",
		New: func(plugins.Values) (plugins.TimestepSampler, error) { return &LossSecondMoment{}, nil }})
}
