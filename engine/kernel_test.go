package engine_test

import (
	"bytes"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/ddpm-runner/ddpm-runner/backend"
	"github.com/ddpm-runner/ddpm-runner/internal/gokernels"
	"github.com/ddpm-runner/ddpm-runner/results"
)

// withKernel runs f with h's runs asking for the fast kernel or the stock one.
func (h *harness) withKernel(fast bool, f func()) {
	h.t.Helper()
	prev := h.kernel
	defer func() { h.kernel = prev }()
	h.kernel = backend.StockKernel
	if fast {
		h.kernel = backend.FastKernel
	}
	f()
}

func (h *harness) finishedLosses(text string, sets ...string) []float64 {
	h.t.Helper()
	out := h.run(h.jobs(text, sets...)[0])
	if out.Status != results.StatusFinished {
		h.t.Fatalf("%s: %v", out.Status, out.Err)
	}
	return h.losses(out.RunID)
}

func TestFastKernelIsDeterministicAndTracksStock(t *testing.T) {
	h := newHarness(t)
	var fast1, fast2, stock []float64
	h.withKernel(true, func() {
		calls0, _ := gokernels.Calls()
		fast1 = h.finishedLosses(tiny)
		fast2 = h.finishedLosses(tiny)
		if calls, _ := gokernels.Calls(); calls == calls0 {
			t.Skipf("the fast kernel did not run (%s)", gokernels.Kernel())
		}
	})
	h.withKernel(false, func() {
		calls0, _ := gokernels.Calls()
		stock = h.finishedLosses(tiny)
		if calls, _ := gokernels.Calls(); calls != calls0 {
			t.Fatal("the fast kernel ran while turned off")
		}
	})
	for i := range fast1 {
		if math.Float64bits(fast1[i]) != math.Float64bits(fast2[i]) {
			t.Fatalf("step %d: %v then %v with the same seed and kernel", i+1, fast1[i], fast2[i])
		}
	}
	// The kernels sum in different orders, so losses differ by float32 rounding at first;
	// training amplifies that only slowly over a few steps.
	for i := 0; i < 5; i++ {
		if rel := math.Abs(fast1[i]-stock[i]) / math.Abs(stock[i]); rel > 1e-5 {
			t.Errorf("step %d: fast %.9g vs stock %.9g (relative %.2g > 1e-5)", i+1, fast1[i], stock[i], rel)
		}
	}
	// Two kernels that sum in different orders cannot agree bit for bit over a whole run;
	// if they do, the comparison above compared a kernel with itself.
	if slices.Equal(fast1, stock) {
		t.Errorf("fast and stock kernels gave the same %d losses bit for bit: the stock run did not use the stock kernel", len(stock))
	}
}

func TestCorruptKernelIsCaughtAndTheRunFallsBack(t *testing.T) {
	h := newHarness(t)
	var stock []float64
	h.withKernel(false, func() { stock = h.finishedLosses(tiny) })

	var warn bytes.Buffer
	prevOut := gokernels.SetWarningOutput(&warn)
	gokernels.SetCorruptForTest(true)
	gokernels.ResetForTest()
	defer func() {
		gokernels.SetCorruptForTest(false)
		gokernels.ResetForTest()
		gokernels.SetWarningOutput(prevOut)
	}()
	var got []float64
	h.withKernel(true, func() { got = h.finishedLosses(tiny) })
	if !strings.Contains(warn.String(), "fast matmul disabled") || strings.Count(warn.String(), "\n") != 1 {
		t.Fatalf("want one warning line, got %q", warn.String())
	}
	if !strings.Contains(warn.String(), "self-check failed") {
		t.Skipf("no self-check on this machine: %q", warn.String())
	}
	for i := range stock {
		if math.Float64bits(got[i]) != math.Float64bits(stock[i]) {
			t.Fatalf("step %d: %v after the fallback, %v with the stock kernel: the run trained on the corrupt kernel", i+1, got[i], stock[i])
		}
	}
}

// TestTrainingStepsNeedNoFallback checks that every DotGeneral of an MLP and a U-Net run
// (training, sampling, evaluation) is one the fast kernel covers.
func TestTrainingStepsNeedNoFallback(t *testing.T) {
	unet := unetSpec(t)
	h := newHarness(t)
	h.withKernel(true, func() {
		for name, text := range map[string]string{"mlp": tiny, "unet": unet} {
			fast0, fb0 := gokernels.Calls()
			h.finishedLosses(text)
			fast, fb := gokernels.Calls()
			if fast == fast0 {
				t.Skipf("the fast kernel did not run (%s)", gokernels.Kernel())
			}
			if fb != fb0 {
				t.Errorf("%s: %d DotGenerals fell back to the stock kernel: %v", name, fb-fb0, gokernels.Fallbacks())
			}
		}
	})
}

// TestRunRecordsTheKernelItWasGiven runs with each kernel named in Options, whatever the
// environment's default, and checks the kernel that ran and the one recorded.
func TestRunRecordsTheKernelItWasGiven(t *testing.T) {
	t.Setenv(gokernels.EnvVar, "0")
	h := newHarness(t)
	for _, fast := range []bool{false, true} {
		h.withKernel(fast, func() {
			calls0, _ := gokernels.Calls()
			out := h.run(h.jobs(tiny, "train.steps=3")[0])
			if out.Status != results.StatusFinished {
				t.Fatalf("%s: %v", out.Status, out.Err)
			}
			rec, err := h.store.Run(out.RunID)
			if err != nil {
				t.Fatal(err)
			}
			recorded := rec.Env[backend.MatmulEnvKey]
			calls, _ := gokernels.Calls()
			if fast && !strings.HasPrefix(recorded, "fastdot ") {
				t.Skipf("the fast kernel does not run here: %s", recorded)
			}
			if ran := calls != calls0; ran != fast {
				t.Errorf("asked for the fast kernel: %v; it ran: %v (recorded %q)", fast, ran, recorded)
			}
			if !fast && !strings.HasPrefix(recorded, "gomlx-stock") {
				t.Errorf("a stock-kernel run recorded %s = %q", backend.MatmulEnvKey, recorded)
			}
		})
	}
}
