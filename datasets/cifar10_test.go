package datasets

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ddpm-runner/ddpm-runner/plugins"
)

// The tiny CIFAR-10 of the tests: 3 records in each training batch, 4 in test_batch, with
// the pixels and labels that testdata/cifar10/gen_cifar10_py.py writes.
const (
	tinyPerBatch = 3
	tinyTest     = 4
)

// cifarPixel is the value of pixel (c, y, x) of record r of a split in the tiny files.
func cifarPixel(r, c, y, x int) byte { return byte((37*r + 85*c + 7*y + 3*x) % 256) }

func cifarLabel(train bool, r int) int {
	if train {
		return (3*r + 1) % 10
	}
	return (7*r + 2) % 10
}

// writeCIFARBin writes the tiny files in CIFAR-10's binary layout: per record a label byte,
// then the red, green and blue planes, each 32x32 row-major.
func writeCIFARBin(t *testing.T, dir string) {
	t.Helper()
	write := func(name string, first, n int, train bool) {
		var b []byte
		for r := first; r < first+n; r++ {
			b = append(b, byte(cifarLabel(train, r)))
			for c := range 3 {
				for y := range 32 {
					for x := range 32 {
						b = append(b, cifarPixel(r, c, y, x))
					}
				}
			}
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for k := range 5 {
		write(cifarTrainFiles[k]+".bin", k*tinyPerBatch, tinyPerBatch, true)
	}
	write("test_batch.bin", 0, tinyTest, false)
}

// checkTinyCIFAR checks every pixel (HWC, x/127.5 - 1) and label of both splits, in order.
func checkTinyCIFAR(t *testing.T, d *CIFAR10) {
	t.Helper()
	if len(d.trainY) != 5*tinyPerBatch || len(d.testY) != tinyTest {
		t.Fatalf("%d training and %d test images, want %d and %d", len(d.trainY), len(d.testY), 5*tinyPerBatch, tinyTest)
	}
	for _, split := range []struct {
		train bool
		n     int
		x     []byte
		y     []int
	}{{true, 5 * tinyPerBatch, d.trainX, d.trainY}, {false, tinyTest, d.testX, d.testY}} {
		for r := range split.n {
			if split.y[r] != cifarLabel(split.train, r) {
				t.Fatalf("train=%v record %d: label %d, want %d", split.train, r, split.y[r], cifarLabel(split.train, r))
			}
			for y := range 32 {
				for x := range 32 {
					for c := range 3 {
						got, want := split.x[r*3072+(y*32+x)*3+c], cifarPixel(r, c, y, x)
						if got != want {
							t.Fatalf("train=%v record %d pixel (y %d, x %d, c %d) = %d, want %d", split.train, r, y, x, c, got, want)
						}
					}
				}
			}
		}
	}
	// HeldOut is the test split in file order, scaled as the other image datasets are.
	held := d.HeldOut(100)
	if len(held) != tinyTest*3072 {
		t.Fatalf("HeldOut(100) gave %d values, want %d", len(held), tinyTest*3072)
	}
	for _, at := range [][4]int{{0, 0, 0, 0}, {1, 2, 31, 5}, {3, 1, 7, 30}} {
		r, c, y, x := at[0], at[1], at[2], at[3]
		if got, want := held[r*3072+(y*32+x)*3+c], float32(cifarPixel(r, c, y, x))/127.5-1; got != want {
			t.Errorf("HeldOut record %d (c %d, y %d, x %d) = %v, want %v", r, c, y, x, got, want)
		}
	}
}

func TestCIFAR10Layouts(t *testing.T) {
	binDir := t.TempDir()
	if err := os.Mkdir(filepath.Join(binDir, "cifar-10-batches-bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeCIFARBin(t, filepath.Join(binDir, "cifar-10-batches-bin"))
	for _, tc := range []struct {
		name, dir, layout string
	}{
		{"bin, the folder above the archive's", binDir, "bin"},
		{"bin, the archive's folder", filepath.Join(binDir, "cifar-10-batches-bin"), "bin"},
		{"python as published (Python 2 cPickle)", filepath.Join("testdata", "cifar10", "py2"), "py"},
		{"python re-pickled by Python 3, protocol 2", filepath.Join("testdata", "cifar10", "py3", "cifar-10-batches-py"), "py"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := NewCIFAR10(tc.dir)
			if err := d.Load(); err != nil {
				t.Fatal(err)
			}
			if d.Layout != tc.layout {
				t.Errorf("layout %q, want %q", d.Layout, tc.layout)
			}
			checkTinyCIFAR(t, d)
		})
	}
}

// TestCIFAR10TrainOrder: a step's examples and labels are the shuffled epoch's, the same for
// the same (seed, step), and every image once per epoch.
func TestCIFAR10TrainOrder(t *testing.T) {
	d := NewCIFAR10(filepath.Join("testdata", "cifar10", "py2"))
	if err := d.Load(); err != nil {
		t.Fatal(err)
	}
	const n = 5 // three steps make one epoch of 15
	seen := map[int]bool{}
	for step := range 3 {
		x := make([]float32, n*3072)
		labels := make([]int32, n)
		d.TrainLabeled(7, step, n, x, labels)
		// A fresh dataset (a resumed run's) gives the same examples: they are pure in (seed, step).
		again := make([]float32, n*3072)
		d2 := &CIFAR10{trainX: d.trainX, trainY: d.trainY}
		d2.Train(7, step, n, again)
		for i := range n {
			// Which record is this? Its first pixel's red value and label identify it.
			r := -1
			for k := range 15 {
				if float32(cifarPixel(k, 0, 0, 0))/127.5-1 == x[i*3072] && float32(cifarPixel(k, 1, 0, 0))/127.5-1 == x[i*3072+1] {
					r = k
				}
			}
			if r < 0 || int(labels[i]) != cifarLabel(true, r) {
				t.Fatalf("step %d example %d: record %d with label %d", step, i, r, labels[i])
			}
			seen[r] = true
		}
		for i := range x {
			if x[i] != again[i] {
				t.Fatalf("step %d: a second dataset gives other examples", step)
			}
		}
	}
	if len(seen) != 15 {
		t.Errorf("one epoch visited %d of 15 images", len(seen))
	}
}

func TestCIFAR10Missing(t *testing.T) {
	t.Setenv(CIFAR10DirEnv, "")
	empty := t.TempDir()
	partial := t.TempDir()
	writeCIFARBin(t, partial)
	if err := os.Remove(filepath.Join(partial, "data_batch_4.bin")); err != nil {
		t.Fatal(err)
	}
	badSize := t.TempDir()
	writeCIFARBin(t, badSize)
	if err := os.WriteFile(filepath.Join(badSize, "test_batch.bin"), make([]byte, 3073*2+5), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, dir string
		want      []string
	}{
		{"no folder", "", []string{"$DDPM_CIFAR10_DIR", "https://www.cs.toronto.edu/~kriz/cifar.html", "nothing is downloaded"}},
		{"empty folder", empty, []string{"data_batch_1.bin", "test_batch.bin", "data_batch_5", "cifar-10-batches-py", empty, "https://www.cs.toronto.edu/~kriz/cifar.html"}},
		{"a file missing", partial, []string{"data_batch_4.bin is missing", partial}},
		{"a truncated file", badSize, []string{"test_batch.bin has 6151 bytes", "3073"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := NewCIFAR10(tc.dir).Load()
			if err == nil {
				t.Fatal("loaded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
}

// TestCIFAR10WithoutFiles: what a spec is checked and shown with is known before any file is
// read, so --dry-run works where CIFAR-10 is absent.
func TestCIFAR10WithoutFiles(t *testing.T) {
	p, err := plugins.Lookup(plugins.KindDataset, "cifar10")
	if err != nil {
		t.Fatal(err)
	}
	v, err := p.Build(plugins.Values{"dir": t.TempDir()})
	if err != nil {
		t.Fatalf("building without files: %v", err)
	}
	d := v.(*CIFAR10)
	if h, w, c := d.ImageShape(); h != 32 || w != 32 || c != 3 || d.Dim() != 3072 || d.Classes() != 10 || !d.Discrete() {
		t.Errorf("shape %dx%dx%d, dim %d, classes %d", h, w, c, d.Dim(), d.Classes())
	}
	if res, _ := d.MemoryBytes(); res != 60000*(3072+8) {
		t.Errorf("resident %d bytes before loading, want the published sizes' %d", res, 60000*(3072+8))
	}
	if _, ok := v.(plugins.DeferredData); !ok {
		t.Error("cifar10 does not defer its files")
	}
}
