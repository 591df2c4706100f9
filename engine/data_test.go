package engine_test

import (
	"testing"

	"github.com/ddpm-runner/ddpm-runner/datasets"
	"github.com/ddpm-runner/ddpm-runner/results"
)

// TestFashionMNISTRunUsesItsClassifier: a run on Fashion-MNIST, with flips, evaluates fid,
// is and kid on Fashion-MNIST's classifier and records which; a run on MNIST on MNIST's.
func TestFashionMNISTRunUsesItsClassifier(t *testing.T) {
	t.Setenv(datasets.FashionMNISTDirEnv, "")
	if _, err := datasets.FashionMNISTDir(""); err != nil {
		t.Skipf("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist; .ci/run does): %v", err)
	}
	h := newHarness(t)
	for _, tc := range []struct{ data, want string }{
		{`data.name="fashion-mnist"`, "fashion_mnist_mlp@a3fe0887aebb"},
		{`data.name="mnist"`, "mnist_mlp@5c4dc1d7a425"},
	} {
		out := h.run(h.jobs(tiny, tc.data, "data.size=7", "data.flip=true", "train.steps=3", "train.ema=0",
			`eval.metrics=["fid", "is", "kid"]`, "eval.n=40", "sample.n=40")[0])
		if out.Status != results.StatusFinished {
			t.Fatalf("%s: %s: %v", tc.data, out.Status, out.Err)
		}
		run, err := h.store.Run(out.RunID)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range []string{"fid", "is", "kid"} {
			if got := run.Env["metric."+m+".featurizer"]; got != tc.want {
				t.Errorf("%s: %s used %q, want %q", tc.data, m, got, tc.want)
			}
		}
	}
}
