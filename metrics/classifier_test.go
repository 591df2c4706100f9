package metrics

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ddpm-runner/ddpm-runner/plugins"
)

// TestMetricsUseTheDatasClassifier: fid, is and kid use the classifier the data name
// (Fashion-MNIST's for Fashion-MNIST), MNIST's when they name none, and note which, so that
// values from different classifiers are never compared.
func TestMetricsUseTheDatasClassifier(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	images := func(n int) []float32 {
		x := make([]float32, n*784)
		for i := range x {
			x[i] = float32(rng.Float64()*2 - 1)
		}
		return x
	}
	in := plugins.EvalInput{Dim: 784, Discrete: true, H: 28, W: 28, C: 1, Samples: images(40), HeldOut: images(40), Train: images(40)}
	values := map[string]float64{}
	for _, tc := range []struct{ featurizer, id string }{
		{"", "mnist_mlp@5c4dc1d7a425"},
		{"mnist_mlp", "mnist_mlp@5c4dc1d7a425"},
		{"fashion_mnist_mlp", "fashion_mnist_mlp@a3fe0887aebb"},
	} {
		in.Featurizer = tc.featurizer
		for _, m := range []plugins.Metric{FID{}, IS{}, KID{}} {
			res, err := m.Evaluate(in)
			if err != nil {
				t.Fatal(err)
			}
			if res.Notes["featurizer"] != tc.id {
				t.Errorf("%T with data naming %q: featurizer %q, want %q", m, tc.featurizer, res.Notes["featurizer"], tc.id)
			}
			if fid, ok := res.Values["fid"]; ok {
				values[tc.id] = fid
			}
		}
	}
	if values["mnist_mlp@5c4dc1d7a425"] == values["fashion_mnist_mlp@a3fe0887aebb"] {
		t.Error("both classifiers gave the same fid: the features are the same")
	}
	in.Featurizer = "cifar_mlp"
	if _, err := (FID{}).Evaluate(in); err == nil || !strings.Contains(err.Error(), "cifar_mlp") {
		t.Errorf("an unknown classifier: error %v", err)
	}
}
