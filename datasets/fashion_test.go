package datasets

import (
	"os"
	"strings"
	"testing"

	"github.com/ddpm-runner/ddpm-runner/plugins"
)

// TestFashionMNIST reads Debian's dataset-fashion-mnist: classes and sizes as for MNIST, its
// own classifier, and the folder chosen by [data] dir, then $DDPM_FASHION_MNIST_DIR, then
// Debian's.
func TestFashionMNIST(t *testing.T) {
	t.Setenv(FashionMNISTDirEnv, "")
	if _, err := FashionMNISTDir(""); err != nil {
		t.Skipf("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist; .ci/run does): %v", err)
	}
	m, err := LoadFashionMNIST("", []int{1, 8}, 14)
	if err != nil {
		t.Fatal(err)
	}
	// 6,000 training and 1,000 test images per class.
	if len(m.trainX) != 12000 || len(m.testX) != 2000 || m.Dim() != 196 || m.Featurizer() != "fashion_mnist_mlp" {
		t.Fatalf("%d train, %d test, dim %d, featurizer %s", len(m.trainX), len(m.testX), m.Dim(), m.Featurizer())
	}
	for _, y := range append(append([]int{}, m.trainY...), m.testY...) {
		if y != 1 && y != 8 {
			t.Fatalf("class %d kept", y)
		}
	}
	// Not MNIST: the first training image differs from MNIST's.
	mn, err := LoadMNIST("", nil, 28)
	if err != nil {
		t.Fatal(err)
	}
	all, err := LoadFashionMNIST("", nil, 28)
	if err != nil {
		t.Fatal(err)
	}
	if string(all.trainX[0]) == string(mn.trainX[0]) || all.trainY[0] != 9 { // Fashion-MNIST's first is an ankle boot
		t.Errorf("Fashion-MNIST's first image is MNIST's, or its label %d is not 9", all.trainY[0])
	}
}

// TestIDXDatasetsDeferTheirFiles: mnist and fashion-mnist read no file until Load, whose
// error names the folder and files it wanted; the environment variable picks the folder.
func TestIDXDatasetsDeferTheirFiles(t *testing.T) {
	empty := t.TempDir()
	t.Setenv(FashionMNISTDirEnv, empty)
	for _, name := range []string{"mnist", "fashion-mnist"} {
		p, err := plugins.Lookup(plugins.KindDataset, name)
		if err != nil {
			t.Fatal(err)
		}
		vals := plugins.Values{"dir": empty, "size": 14}
		for _, d := range p.Params {
			if _, ok := vals[d.Name]; !ok {
				vals[d.Name] = d.Default
			}
		}
		if name == "fashion-mnist" {
			vals["dir"] = "" // from the environment
		}
		v, err := p.Build(vals)
		if err != nil {
			t.Fatalf("%s: building without files: %v", name, err)
		}
		if h, w, c := v.(plugins.ImageData).ImageShape(); h != 14 || w != 14 || c != 1 {
			t.Errorf("%s: shape %dx%dx%d", name, h, w, c)
		}
		err = v.(plugins.DeferredData).Load()
		if err == nil || !strings.Contains(err.Error(), empty) {
			t.Errorf("%s: Load in an empty folder: %v", name, err)
		}
	}
	if _, err := os.Stat(FashionMNISTDefaultDir); err == nil {
		t.Setenv(FashionMNISTDirEnv, "")
		if d, err := FashionMNISTDir(""); err != nil || d != FashionMNISTDefaultDir {
			t.Errorf("default folder %q (%v), want %s", d, err, FashionMNISTDefaultDir)
		}
	}
}
