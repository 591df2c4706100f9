package featurizer_test

import (
	"testing"

	"github.com/ddpm-runner/ddpm-runner/datasets"
	"github.com/ddpm-runner/ddpm-runner/featurizer"
)

// shippedSHA256 pins the weights file in this repository: a retrained or edited file must
// change this line deliberately.
const shippedSHA256 = "5c4dc1d7a42585c61989849a58fdc24fa403b047d527adae967aa21bfb045a6d"

func TestShippedClassifier(t *testing.T) {
	model, err := featurizer.Shipped()
	if err != nil {
		t.Fatal(err)
	}
	if model.Manifest.SHA256 != shippedSHA256 {
		t.Fatalf("shipped weights have sha256 %s, want %s", model.Manifest.SHA256, shippedSHA256)
	}
	data, err := datasets.LoadMNIST("", nil, 28)
	if err != nil {
		t.Fatal(err)
	}
	acc := model.Accuracy(data.HeldOut(10000), data.TestLabels(10000))
	t.Logf("MNIST test accuracy %.4f (manifest %.4f)", acc, model.Manifest.TestAccuracy)
	if acc < 0.98 {
		t.Errorf("test accuracy %.4f, want at least 0.98", acc)
	}
	if acc != model.Manifest.TestAccuracy {
		t.Errorf("measured accuracy %.4f differs from the manifest's %.4f", acc, model.Manifest.TestAccuracy)
	}
}
