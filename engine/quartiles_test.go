package engine

import (
	"testing"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/ddpm-runner/ddpm-runner/internal/gobackend"
)

// The logged L_t is also summed by quartile of t: t in [qT/4, (q+1)T/4).
func TestQuartileSums(t *testing.T) {
	backend, err := gobackend.New("")
	if err != nil {
		t.Fatal(err)
	}
	terms := []float32{1, 2, 3, 4, 5, 6, 7, 8, 100}
	ts := []int32{0, 1, 2, 3, 4, 5, 6, 7, 7}
	got := tensors.MustCopyFlatData[float32](MustNewExec(backend, func(x, t *Node) *Node {
		return quartileSums(x, t, 8)
	}).MustExec(terms, ts)[0])
	want := []float32{3, 7, 11, 115, 2, 2, 2, 3}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("quartile sums and counts %v, want %v", got, want)
		}
	}
}
