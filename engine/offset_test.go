package engine

import (
	"math"
	"math/rand/v2"
	"testing"
)

// fakeImages is a dataset of h x w x c images, for the shape only.
type fakeImages struct{ h, w, c int }

func (f fakeImages) Dim() int                        { return f.h * f.w * f.c }
func (fakeImages) Discrete() bool                    { return true }
func (fakeImages) Train(uint64, int, int, []float32) {}
func (fakeImages) HeldOut(int) []float32             { return nil }
func (f fakeImages) ImageShape() (h, w, c int)       { return f.h, f.w, f.c }

// Offset noise adds one value per example and channel, the same at every position of the
// channel, with standard deviation s.
func TestOffsetNoiseIsConstantPerChannel(t *testing.T) {
	data := fakeImages{2, 3, 3}
	j := &Job{Data: data}
	const batch, s = 4000, 0.5
	bb := newBatchBuffers(batch, data.Dim())
	j.addOffsetNoise(rand.New(rand.NewPCG(1, 2)), bb, s)
	var sum, sq float64
	for b := range batch {
		row := bb.noise[b*data.Dim() : (b+1)*data.Dim()]
		for i, v := range row {
			if first := row[i%data.c]; v != first {
				t.Fatalf("example %d: value %d (channel %d) is %v, the channel's first %v", b, i, i%data.c, v, first)
			}
		}
		if row[0] == row[1] && row[1] == row[2] {
			t.Fatalf("example %d: the three channels got the same offset %v", b, row[0])
		}
		for c := range data.c {
			sum += float64(row[c])
			sq += float64(row[c]) * float64(row[c])
		}
	}
	n := float64(batch * data.c)
	mean, std := sum/n, math.Sqrt(sq/n-(sum/n)*(sum/n))
	if math.Abs(mean) > 4*s/math.Sqrt(n) || math.Abs(std-s) > 0.03 {
		t.Errorf("offsets: mean %.4f, std %.4f; want 0 and %g", mean, std, s)
	}
}
