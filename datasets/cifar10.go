package datasets

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/nlpodyssey/gopickle/types"

	"github.com/ddpm-runner/ddpm-runner/interop"
	"github.com/ddpm-runner/ddpm-runner/plugins"
)

// CIFAR10DirEnv names the folder of CIFAR-10 to use when a spec gives none.
const CIFAR10DirEnv = "DDPM_CIFAR10_DIR"

// cifar10URL is where CIFAR-10 is published; the runner never downloads it.
const cifar10URL = "https://www.cs.toronto.edu/~kriz/cifar.html"

// CIFAR-10's layout: 32x32 RGB images in ten classes, 10,000 to a batch file.
const (
	cifarSide      = 32
	cifarPixels    = cifarSide * cifarSide * 3
	cifarRecord    = 1 + cifarPixels // the binary layout: a label byte, then the pixels
	cifarPerFile   = 10000
	cifarTrainSize = 5 * cifarPerFile
	// cifarMaxFile bounds a batch file read whole: the python batches are about 31 MB.
	cifarMaxFile = 64 << 20
)

// cifarTrainFiles and cifarTestFile are the batch files of the python layout
// (cifar-10-batches-py); the binary layout's (cifar-10-batches-bin) add ".bin".
var (
	cifarTrainFiles = []string{"data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5"}
	cifarTestFile   = "test_batch"
)

// CIFAR10 is CIFAR-10 (Krizhevsky 2009): 50,000 training and 10,000 test images, 32x32 RGB,
// in ten classes, 8-bit, stored HWC and scaled to [-1, 1]. It reads the binary or the python
// version as published; its files are read by Load, not by the constructor
// (plugins.DeferredData), so a spec resolves where they are absent.
type CIFAR10 struct {
	dir  string // as given: [data] dir, else $DDPM_CIFAR10_DIR
	once sync.Once
	err  error
	// Folder and Layout are the folder read and its layout ("bin" or "py"), once loaded.
	Folder, Layout string
	// trainX and testX hold the images one after another (cifarPixels bytes each, HWC).
	trainX, testX []byte
	trainY, testY []int
	shuffler      epochShuffler
}

// NewCIFAR10 is CIFAR-10 from dir (empty: $DDPM_CIFAR10_DIR), not yet read.
func NewCIFAR10(dir string) *CIFAR10 { return &CIFAR10{dir: dir} }

// Load implements plugins.DeferredData: it finds the files and reads them (once).
func (d *CIFAR10) Load() error {
	d.once.Do(func() { d.err = d.load() })
	return d.err
}

func (d *CIFAR10) load() error {
	folder, layout, err := findCIFAR10(d.dir)
	if err != nil {
		return err
	}
	d.Folder, d.Layout = folder, layout
	read := readCIFARBin
	if layout == "py" {
		read = readCIFARPickle
	}
	for _, name := range cifarTrainFiles {
		x, y, err := read(filepath.Join(folder, cifarFileName(name, layout)))
		if err != nil {
			return err
		}
		d.trainX, d.trainY = append(d.trainX, x...), append(d.trainY, y...)
	}
	d.testX, d.testY, err = read(filepath.Join(folder, cifarFileName(cifarTestFile, layout)))
	return err
}

func cifarFileName(name, layout string) string {
	if layout == "bin" {
		return name + ".bin"
	}
	return name
}

// findCIFAR10 finds the batch files: in dir itself, or in the folder the archive unpacks to
// inside it (cifar-10-batches-bin, cifar-10-batches-py), the binary version first.
func findCIFAR10(dir string) (folder, layout string, err error) {
	from := "[data] dir"
	if dir == "" {
		dir, from = os.Getenv(CIFAR10DirEnv), "$"+CIFAR10DirEnv
	}
	want := func(layout string) string {
		names := append(append([]string{}, cifarTrainFiles...), cifarTestFile)
		for i := range names {
			names[i] = cifarFileName(names[i], layout)
		}
		return strings.Join(names, ", ")
	}
	help := fmt.Sprintf("CIFAR-10 is published at %s (the binary version, cifar-10-binary.tar.gz, or the python "+
		"version, cifar-10-python.tar.gz); unpack it and set [data] dir or $%s to the folder; nothing is downloaded", cifar10URL, CIFAR10DirEnv)
	if dir == "" {
		return "", "", fmt.Errorf("no CIFAR-10 folder given: neither [data] dir nor $%s is set. %s", CIFAR10DirEnv, help)
	}
	var looked []string
	for _, cand := range []struct{ folder, layout string }{
		{filepath.Join(dir, "cifar-10-batches-bin"), "bin"}, {dir, "bin"},
		{filepath.Join(dir, "cifar-10-batches-py"), "py"}, {dir, "py"},
	} {
		looked = append(looked, cand.folder)
		first := filepath.Join(cand.folder, cifarFileName(cifarTrainFiles[0], cand.layout))
		if _, err := os.Stat(first); err != nil {
			continue
		}
		// The folder has this layout's first file: every other must be there too.
		for _, name := range append(append([]string{}, cifarTrainFiles...), cifarTestFile) {
			p := filepath.Join(cand.folder, cifarFileName(name, cand.layout))
			if _, err := os.Stat(p); err != nil {
				return "", "", fmt.Errorf("CIFAR-10 in %s is incomplete: %s is missing (the %s layout needs %s). %s",
					cand.folder, filepath.Base(p), cand.layout, want(cand.layout), help)
			}
		}
		return cand.folder, cand.layout, nil
	}
	return "", "", fmt.Errorf("CIFAR-10 not found in %s (from %s): looked for %s (cifar-10-batches-bin) or %s (cifar-10-batches-py) in %s. %s",
		dir, from, want("bin"), want("py"), strings.Join(compact(looked), " and "), help)
}

// compact drops repeated entries, keeping the order.
func compact(xs []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// readCIFARFile reads a batch file whole, refusing anything but a regular file of at most
// cifarMaxFile bytes (a FIFO would block, a device never end).
func readCIFARFile(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if st.Size() > cifarMaxFile {
		return nil, fmt.Errorf("%s has %d bytes; a CIFAR-10 batch file has at most %d", path, st.Size(), cifarMaxFile)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, cifarMaxFile+1))
}

// readCIFARBin reads a batch of the binary layout: records of one label byte and 3072 pixel
// bytes (the red plane, then green, then blue, each 32x32 row-major).
func readCIFARBin(path string) (x []byte, y []int, err error) {
	b, err := readCIFARFile(path)
	if err != nil {
		return nil, nil, err
	}
	n := len(b) / cifarRecord
	if len(b)%cifarRecord != 0 || n == 0 || n > cifarPerFile {
		return nil, nil, fmt.Errorf("%s has %d bytes: a CIFAR-10 binary batch holds 1 to %d records of %d bytes (a label byte, 3072 pixels)",
			path, len(b), cifarPerFile, cifarRecord)
	}
	x, y = make([]byte, n*cifarPixels), make([]int, n)
	for i := range n {
		rec := b[i*cifarRecord : (i+1)*cifarRecord]
		if rec[0] > 9 {
			return nil, nil, fmt.Errorf("%s: record %d has label %d; CIFAR-10's are 0 to 9", path, i, rec[0])
		}
		y[i] = int(rec[0])
		planesToHWC(rec[1:], x[i*cifarPixels:(i+1)*cifarPixels])
	}
	return x, y, nil
}

// readCIFARPickle reads a batch of the python layout: a pickled dict with "data", a uint8
// array [n, 3072] of rows laid out as a binary record's pixels, and "labels", n ints.
func readCIFARPickle(path string) (x []byte, y []int, err error) {
	b, err := readCIFARFile(path)
	if err != nil {
		return nil, nil, err
	}
	v, err := interop.UnpickleNumPy(bytes.NewReader(b))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: not a CIFAR-10 python batch: %w", path, err)
	}
	dict, ok := v.(*types.Dict)
	if !ok {
		return nil, nil, fmt.Errorf("%s: not a CIFAR-10 python batch: the pickle holds %T, not a dict", path, v)
	}
	var data *interop.Array
	var labels *types.List
	for _, e := range *dict {
		// Keys are Python 2 str in the published files; a re-pickled file may have bytes or str.
		switch k, _ := interop.Str(e.Key); k {
		case "data":
			data, _ = e.Value.(*interop.Array)
		case "labels":
			labels, _ = e.Value.(*types.List)
		}
	}
	if data == nil || labels == nil {
		return nil, nil, fmt.Errorf("%s: not a CIFAR-10 python batch: want a dict with b'data' (a NumPy array) and b'labels' (a list)", path)
	}
	if (data.DType != "u1" && data.DType != "uint8") || len(data.Shape) != 2 || data.Shape[1] != cifarPixels || data.Fortran {
		return nil, nil, fmt.Errorf("%s: b'data' is a %s array of shape %v%s; CIFAR-10's is uint8 [n, 3072] in C order",
			path, data.DType, data.Shape, map[bool]string{true: " in Fortran order"}[data.Fortran])
	}
	n := data.Shape[0]
	if n == 0 || n > cifarPerFile || len(data.Data) != n*cifarPixels || labels.Len() != n {
		return nil, nil, fmt.Errorf("%s: b'data' has %d rows (%d bytes) and b'labels' %d entries; want 1 to %d rows of 3072 bytes, one label each",
			path, n, len(data.Data), labels.Len(), cifarPerFile)
	}
	x, y = make([]byte, n*cifarPixels), make([]int, n)
	for i := range n {
		l, err := interop.Int(labels.Get(i))
		if err != nil || l < 0 || l > 9 {
			return nil, nil, fmt.Errorf("%s: b'labels'[%d] is %v; CIFAR-10's are 0 to 9", path, i, labels.Get(i))
		}
		y[i] = l
		planesToHWC(data.Data[i*cifarPixels:(i+1)*cifarPixels], x[i*cifarPixels:(i+1)*cifarPixels])
	}
	return x, y, nil
}

// planesToHWC reorders one image from CIFAR-10's planes (R, G, B, each row-major) to the
// runner's HWC order.
func planesToHWC(planes, hwc []byte) {
	const plane = cifarSide * cifarSide
	for p := range plane {
		for c := range 3 {
			hwc[p*3+c] = planes[c*plane+p]
		}
	}
}

// Dim implements plugins.Dataset.
func (d *CIFAR10) Dim() int { return cifarPixels }

// Discrete implements plugins.Dataset: pixels are 8-bit.
func (d *CIFAR10) Discrete() bool { return true }

// ImageShape implements plugins.ImageData: 32x32 RGB, known before the files are read.
func (d *CIFAR10) ImageShape() (h, w, c int) { return cifarSide, cifarSide, 3 }

// Classes implements plugins.LabeledData: airplane, automobile, bird, cat, deer, dog, frog,
// horse, ship, truck.
func (d *CIFAR10) Classes() int { return 10 }

// Train implements plugins.Dataset: shuffled epochs of the training set, as for MNIST.
func (d *CIFAR10) Train(seed uint64, step, n int, dst []float32) {
	d.shuffler.take(seed, step, n, len(d.trainY), func(i, k int) {
		toFloat(d.trainX[k*cifarPixels:(k+1)*cifarPixels], dst[i*cifarPixels:(i+1)*cifarPixels])
	})
}

// TrainLabeled implements plugins.LabeledData: Train's examples with their classes.
func (d *CIFAR10) TrainLabeled(seed uint64, step, n int, dst []float32, labels []int32) {
	d.shuffler.take(seed, step, n, len(d.trainY), func(i, k int) {
		toFloat(d.trainX[k*cifarPixels:(k+1)*cifarPixels], dst[i*cifarPixels:(i+1)*cifarPixels])
		labels[i] = int32(d.trainY[k])
	})
}

// HeldOut implements plugins.Dataset: the first n images of the test split in file order (at
// most all of them; test_batch is in random order already).
func (d *CIFAR10) HeldOut(n int) []float32 {
	n = min(n, len(d.testY))
	out := make([]float32, n*cifarPixels)
	for i := range n {
		toFloat(d.testX[i*cifarPixels:(i+1)*cifarPixels], out[i*cifarPixels:(i+1)*cifarPixels])
	}
	return out
}

// TestLabels returns the labels of the images HeldOut(n) returns.
func (d *CIFAR10) TestLabels(n int) []int {
	return append([]int(nil), d.testY[:min(n, len(d.testY))]...)
}

// MemoryBytes implements plugins.SizedDataset: the 8-bit pixels of both splits (the
// published sizes until the files are read), and one batch file beside them while reading.
func (d *CIFAR10) MemoryBytes() (resident, loading int64) {
	images := int64(cifarTrainSize + cifarPerFile)
	if d.trainY != nil {
		images = int64(len(d.trainY) + len(d.testY))
	}
	return images * (cifarPixels + 8), 2 * cifarPerFile * cifarRecord
}

func init() {
	plugins.Register(plugins.Plugin{
		Kind: plugins.KindDataset, Name: "cifar10",
		Doc: "CIFAR-10 (50k train / 10k test, 32x32 RGB, ten classes; the binary or python version from " + cifar10URL + "), 8-bit, scaled to [-1, 1]",
		Params: []plugins.Param{
			{Name: "dir", Type: plugins.String, Default: "",
				Doc: "folder with cifar-10-batches-bin or cifar-10-batches-py, or those folders themselves (default: $" + CIFAR10DirEnv + "); never downloaded"},
		},
		New: func(v plugins.Values) (plugins.Dataset, error) { return NewCIFAR10(v.String("dir")), nil },
	})
}
