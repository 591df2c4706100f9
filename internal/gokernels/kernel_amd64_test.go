package gokernels

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestNoAVX2MeansStockKernel pretends the CPU lacks AVX2/FMA: the fast kernel must stay off,
// with one warning line, and products must still be right (on the stock kernel).
func TestNoAVX2MeansStockKernel(t *testing.T) {
	saved := kernelSupported
	var warn bytes.Buffer
	prevOut := SetWarningOutput(&warn)
	kernelSupported = false
	ResetForTest()
	t.Cleanup(func() {
		kernelSupported = saved
		SetWarningOutput(prevOut)
		ResetForTest()
	})
	SetEnabled(true)
	Ensure(newBackend(t))
	if Active() || !strings.Contains(Kernel(), "no AVX2/FMA") {
		t.Fatalf("active=%v kernel=%q without AVX2", Active(), Kernel())
	}
	if !strings.Contains(warn.String(), "no AVX2/FMA") || strings.Count(warn.String(), "\n") != 1 {
		t.Fatalf("warning %q", warn.String())
	}
	b := newBackend(t)
	rng := rand.New(rand.NewPCG(3, 4))
	for _, tc := range dotCases() {
		t.Run(tc.name, func(t *testing.T) { checkDot(t, b, rng, tc, false) })
	}
}
