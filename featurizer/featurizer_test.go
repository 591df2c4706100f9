package featurizer_test

import (
	"testing"

	"github.com/ddpm-runner/ddpm-runner/datasets"
	"github.com/ddpm-runner/ddpm-runner/featurizer"
)

// The shipped weights files' sha256: a retrained or edited file must change its line
// deliberately.
const (
	shippedSHA256        = "5c4dc1d7a42585c61989849a58fdc24fa403b047d527adae967aa21bfb045a6d"
	shippedFashionSHA256 = "a3fe0887aebb0907ef760fefb85868d3d14aa35c6333c32caae531b3b2a819ca"
)

func TestShippedClassifiers(t *testing.T) {
	for _, tc := range []struct {
		name, sha string
		load      func() (*datasets.MNIST, error)
		minAcc    float64
	}{
		{featurizer.MNIST, shippedSHA256, func() (*datasets.MNIST, error) { return datasets.LoadMNIST("", nil, 28) }, 0.98},
		{featurizer.FashionMNIST, shippedFashionSHA256, func() (*datasets.MNIST, error) { return datasets.LoadFashionMNIST("", nil, 28) }, 0.87},
	} {
		t.Run(tc.name, func(t *testing.T) {
			model, err := featurizer.ShippedNamed(tc.name)
			if err != nil {
				t.Fatal(err)
			}
			if model.Manifest.SHA256 != tc.sha || model.Manifest.Name != tc.name {
				t.Fatalf("shipped %s has sha256 %s, want %s", model.Manifest.Name, model.Manifest.SHA256, tc.sha)
			}
			if model.ID() != tc.name+"@"+tc.sha[:12] {
				t.Errorf("ID %s", model.ID())
			}
			data, err := tc.load()
			if err != nil {
				if tc.name == featurizer.FashionMNIST {
					t.Skipf("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist): %v", err)
				}
				t.Fatal(err)
			}
			if data.Featurizer() != tc.name {
				t.Errorf("the data name classifier %q", data.Featurizer())
			}
			acc := model.Accuracy(data.HeldOut(10000), data.TestLabels(10000))
			t.Logf("%s test accuracy %.4f (manifest %.4f)", tc.name, acc, model.Manifest.TestAccuracy)
			if acc < tc.minAcc {
				t.Errorf("test accuracy %.4f, want at least %.2f", acc, tc.minAcc)
			}
			if acc != model.Manifest.TestAccuracy {
				t.Errorf("measured accuracy %.4f differs from the manifest's %.4f", acc, model.Manifest.TestAccuracy)
			}
		})
	}
	if _, err := featurizer.ShippedNamed("cifar_mlp"); err == nil {
		t.Error("an unknown classifier loaded")
	}
}
