// Package featurizer holds the classifiers whose features the fid, is and kid metrics use,
// one per 28x28 data set: an MLP 784 -> 512 -> 256 -> 10 with ReLU, trained by `runner
// featurizer train` (deterministic from its seed) and shipped in this package as NAME.bin
// with a manifest NAME.json recording its sha256 and test accuracy: mnist_mlp for MNIST,
// fashion_mnist_mlp for Fashion-MNIST. Inference runs on the host in float64 (gonum), so a
// metric's value does not depend on the training backend.
package featurizer

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// Layer widths: input, hidden, feature, classes.
var Widths = []int{784, 512, 256, 10}

// shippedFiles are the shipped classifiers' weights and manifests.
//
//go:embed *.bin *.json
var shippedFiles embed.FS

// Manifest describes a weights file.
type Manifest struct {
	Name         string  `json:"name"`
	SHA256       string  `json:"sha256"`
	TestAccuracy float64 `json:"test_accuracy"`
	Seed         uint64  `json:"seed"`
	Epochs       int     `json:"epochs"`
	Widths       []int   `json:"widths"`
	Command      string  `json:"command"`
}

// Model is a loaded classifier: per layer a weight matrix [in, out] and a bias.
type Model struct {
	Manifest Manifest
	W        []*mat.Dense
	B        [][]float64
}

// MNIST and FashionMNIST name the shipped classifiers.
const (
	MNIST        = "mnist_mlp"
	FashionMNIST = "fashion_mnist_mlp"
)

// Shipped returns the MNIST classifier that ships with the runner (ShippedNamed(MNIST)).
func Shipped() (*Model, error) { return ShippedNamed(MNIST) }

// ShippedNamed returns a classifier that ships with the runner, after checking that the
// embedded file's sha256 is the one its manifest records.
func ShippedNamed(name string) (*Model, error) {
	if name != MNIST && name != FashionMNIST {
		return nil, fmt.Errorf("featurizer: no shipped classifier %q (shipped: %s, %s)", name, MNIST, FashionMNIST)
	}
	manifest, err := shippedFiles.ReadFile(name + ".json")
	if err != nil {
		return nil, fmt.Errorf("featurizer: %s is not in this build: %w", name, err)
	}
	weights, err := shippedFiles.ReadFile(name + ".bin")
	if err != nil {
		return nil, fmt.Errorf("featurizer: %s is not in this build: %w", name, err)
	}
	var m Manifest
	if err := json.Unmarshal(manifest, &m); err != nil {
		return nil, fmt.Errorf("featurizer: %s.json: %w", name, err)
	}
	if m.Name != name {
		return nil, fmt.Errorf("featurizer: %s.json names %q", name, m.Name)
	}
	if got := Hash(weights); got != m.SHA256 {
		return nil, fmt.Errorf("featurizer: %s.bin has sha256 %s, manifest says %s", name, got, m.SHA256)
	}
	return Decode(weights, m)
}

// Hash is the hex sha256 of a weights file.
func Hash(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// ID names the featurizer and the first 12 hex digits of its hash, recorded with every
// value computed from its features so that values stay comparable.
func (m *Model) ID() string { return m.Manifest.Name + "@" + m.Manifest.SHA256[:12] }

// Encode writes weights as little-endian float32, layer by layer (W row-major, then b).
func Encode(ws [][]float32, bs [][]float32) []byte {
	var buf bytes.Buffer
	for i := range ws {
		_ = binary.Write(&buf, binary.LittleEndian, ws[i])
		_ = binary.Write(&buf, binary.LittleEndian, bs[i])
	}
	return buf.Bytes()
}

// Decode reads a weights file written by Encode.
func Decode(b []byte, m Manifest) (*Model, error) {
	widths := m.Widths
	want := 0
	for i := 0; i+1 < len(widths); i++ {
		want += (widths[i]*widths[i+1] + widths[i+1]) * 4
	}
	if len(b) != want {
		return nil, fmt.Errorf("featurizer: weights file has %d bytes, widths %v need %d", len(b), widths, want)
	}
	model := &Model{Manifest: m}
	off := 0
	read := func(n int) []float64 {
		out := make([]float64, n)
		for i := range out {
			out[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(b[off:])))
			off += 4
		}
		return out
	}
	for i := 0; i+1 < len(widths); i++ {
		model.W = append(model.W, mat.NewDense(widths[i], widths[i+1], read(widths[i]*widths[i+1])))
		model.B = append(model.B, read(widths[i+1]))
	}
	return model, nil
}

// Forward runs n images (784 values each in [-1, 1]) through the classifier and returns the
// features (n x 256, the units after the second ReLU) and the class probabilities (n x 10).
func (m *Model) Forward(x []float32) (features, probs *mat.Dense) {
	d := Widths[0]
	n := len(x) / d
	data := make([]float64, len(x))
	for i, v := range x {
		data[i] = float64(v)
	}
	h := mat.NewDense(n, d, data)
	for layer := range m.W {
		var out mat.Dense
		out.Mul(h, m.W[layer])
		r, c := out.Dims()
		last := layer == len(m.W)-1
		for i := range r {
			row := out.RawRowView(i)
			for j := range c {
				row[j] += m.B[layer][j]
				if !last && row[j] < 0 {
					row[j] = 0
				}
			}
		}
		h = &out
		if layer == len(m.W)-2 {
			features = h
		}
	}
	r, c := h.Dims()
	probs = mat.NewDense(r, c, nil)
	for i := range r {
		row := h.RawRowView(i)
		mx := math.Inf(-1)
		for _, v := range row {
			mx = math.Max(mx, v)
		}
		var sum float64
		for j, v := range row {
			e := math.Exp(v - mx)
			probs.Set(i, j, e)
			sum += e
		}
		for j := range c {
			probs.Set(i, j, probs.At(i, j)/sum)
		}
	}
	return features, probs
}

// Accuracy is the share of images whose most probable class is the label.
func (m *Model) Accuracy(x []float32, labels []int) float64 {
	_, p := m.Forward(x)
	correct := 0
	for i, y := range labels {
		best := 0
		for j := 1; j < 10; j++ {
			if p.At(i, j) > p.At(i, best) {
				best = j
			}
		}
		if best == y {
			correct++
		}
	}
	return float64(correct) / float64(len(labels))
}
