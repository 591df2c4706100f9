package inception

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ddpm-runner/ddpm-runner/backend"
	"github.com/ddpm-runner/ddpm-runner/internal/digest"
	"github.com/ddpm-runner/ddpm-runner/internal/gokernels"
)

// reference is testdata/inception_ref.json, written by gen_inception.py from pytorch-fid's
// own modules run on testdata/weights.pth.
type reference struct {
	WeightsValues int `json:"weights_values"`
	Images        []struct {
		File    string `json:"file"`
		H, W, C int
	} `json:"images"`
	Dims64, Dims192, Dims768, Pool3, Logits [][]float64
	Mixed6First7                            [][]float64 `json:"mixed6_first7"`
	LogitsUnbiased                          [][]float64 `json:"logits_unbiased"`
	Spatial                                 [][]float64 `json:"spatial"`
	Resize                                  []struct {
		H, W, C, OH, OW, Step int
		Y                     []float64
	} `json:"resize"`
}

func loadReference(t *testing.T) reference {
	t.Helper()
	b, err := os.ReadFile("testdata/inception_ref.json")
	if err != nil {
		t.Fatal(err)
	}
	var r reference
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestLayoutIsFidInceptionV3: the tensors the network expects are as many as the state dict
// of pytorch-fid's fid_inception_v3 holds (counted by the generator from PyTorch).
func TestLayoutIsFidInceptionV3(t *testing.T) {
	r := loadReference(t)
	if got := ParameterCount(); got != r.WeightsValues || got != 23885392 {
		t.Fatalf("layout holds %d values, fid_inception_v3's state dict %d", got, r.WeightsValues)
	}
}

// TestResizeMatchesInterpolate: Resize equals F.interpolate(mode="bilinear",
// align_corners=False) in float32, up, down, non-square and at the same size.
func TestResizeMatchesInterpolate(t *testing.T) {
	for _, c := range loadReference(t).Resize {
		x := make([]float32, c.H*c.W*c.C)
		for i := range x {
			x[i] = float32(float64(uint32(uint64(i)*2654435761)) / (1 << 32))
		}
		y := Resize(x, c.H, c.W, c.C, c.OH, c.OW)
		worst := 0.0
		for k, want := range c.Y {
			worst = math.Max(worst, math.Abs(float64(y[k*c.Step])-want))
		}
		if worst > 1e-6 {
			t.Errorf("%dx%dx%d -> %dx%d: differs from F.interpolate by %g (want <= 1e-6)", c.H, c.W, c.C, c.OH, c.OW, worst)
		}
	}
}

var (
	netOnce sync.Once
	testNet *Net
	netErr  error
)

// fixtureNet is the network with testdata/weights_legacy.pth on the go backend: the weights in
// PyTorch's legacy format, as pytorch-fid publishes its file, so that the features tests read
// that format end to end (TestLegacyWeightsEqualZip ties it to the zip format's file).
func fixtureNet(t *testing.T) *Net {
	t.Helper()
	netOnce.Do(func() {
		var w *Weights
		if w, netErr = Load("testdata/weights_legacy.pth"); netErr != nil {
			return
		}
		b, err := backend.New(backend.Choice{Config: "go"})
		if err != nil {
			netErr = err
			return
		}
		testNet = New(b.GoMLX(), w)
	})
	if netErr != nil {
		t.Fatal(netErr)
	}
	return testNet
}

// TestFeaturesMatchPytorchFID: the features of pytorch-fid's InceptionV3 (float64, its own
// module) on the same PNG files, read, resized and scaled by this package: pool3 within 1e-4
// absolute, and every other output pytorch-fid or the metrics use (the logits within 1e-5 of
// their largest value). PyTorch's own float32 forward differs from its float64 one by about as
// much on these weights.
func TestFeaturesMatchPytorchFID(t *testing.T) {
	r := loadReference(t)
	net := fixtureNet(t)
	want := map[Output][][]float64{Dims64: r.Dims64, Dims192: r.Dims192, Dims768: r.Dims768, Pool3: r.Pool3, LogitsOut: r.Logits, Spatial: r.Spatial}
	tol := map[Output]float64{Dims64: 1e-5, Dims192: 1e-5, Dims768: 1e-4, Pool3: 1e-4, LogitsOut: 1e-3, Mixed6: 1e-4, Spatial: 1e-4}
	const unbiased = Output(0) // UnbiasedLogits, computed from pool3
	worst := map[Output]float64{}
	scale := map[Output]float64{}
	for i, im := range r.Images {
		img, h, w, err := LoadImage(filepath.Join("testdata/images", im.File))
		if err != nil {
			t.Fatal(err)
		}
		x, err := Preprocess(img, 1, h, w, 3)
		if err != nil {
			t.Fatal(err)
		}
		out, err := net.Forward(x, 1, Dims64|Dims192|Dims768|Pool3|LogitsOut|Mixed6|Spatial)
		if err != nil {
			t.Fatal(err)
		}
		if len(out[Spatial]) != 2023 {
			t.Fatalf("spatial features: %d values, want 17*17*7 = 2023", len(out[Spatial]))
		}
		for k, v := range net.Weights().UnbiasedLogits(out[Pool3]) {
			worst[unbiased] = math.Max(worst[unbiased], math.Abs(v-r.LogitsUnbiased[i][k]))
			scale[unbiased] = math.Max(scale[unbiased], math.Abs(r.LogitsUnbiased[i][k]))
		}
		for o, ref := range want {
			for k, v := range ref[i] {
				worst[o] = math.Max(worst[o], math.Abs(float64(out[o][k])-v))
				scale[o] = math.Max(scale[o], math.Abs(v))
			}
		}
		// Mixed_6e's output: its first 7 channels at every position.
		for p := range 17 * 17 {
			for ch := range 7 {
				v := r.Mixed6First7[i][p*7+ch]
				worst[Mixed6] = math.Max(worst[Mixed6], math.Abs(float64(out[Mixed6][p*768+ch])-v))
				scale[Mixed6] = math.Max(scale[Mixed6], math.Abs(v))
			}
		}
	}
	// The logits (about 180 here, a sum over 2048 features) are held relative to their size.
	tol[LogitsOut] = 1e-5 * scale[LogitsOut]
	tol[unbiased] = 1e-5 * scale[unbiased]
	for o, w := range worst {
		name := "unbiased logits"
		if o != unbiased {
			name = fmt.Sprintf("output %d", o.Size())
		}
		t.Logf("%s: largest difference %.3g (largest value %.3g)", name, w, scale[o])
		if w > tol[o] || scale[o] < 0.1 {
			t.Errorf("%s differs from pytorch-fid's by %g (tolerance %g; largest value %g)", name, w, tol[o], scale[o])
		}
	}
}

// TestBatchesAgree: one batch of four gives each image the features it gets alone (the
// batch axis mixes nothing), and an early stop (dims 64) gives the same as the full pass.
func TestBatchesAgree(t *testing.T) {
	if backend.DefaultKernel.Resolved() == backend.StockKernel {
		t.Skipf("$%s turns the fast kernels off: the Inception's forward passes take minutes each (TestFeaturesMatchPytorchFID checks the network on the stock kernels)", backend.KernelEnvVar)
	}
	r := loadReference(t)
	net := fixtureNet(t)
	var all []float32
	for _, im := range r.Images {
		img, h, w, err := LoadImage(filepath.Join("testdata/images", im.File))
		if err != nil {
			t.Fatal(err)
		}
		x, _ := Preprocess(img, 1, h, w, 3)
		all = append(all, x...)
	}
	out, err := net.Forward(all, len(r.Images), Dims64|Pool3)
	if err != nil {
		t.Fatal(err)
	}
	early, err := net.Forward(all, len(r.Images), Dims64)
	if err != nil {
		t.Fatal(err)
	}
	for i := range r.Images {
		for k := range 2048 {
			if d := math.Abs(float64(out[Pool3][i*2048+k]) - r.Pool3[i][k]); d > 1e-4 {
				t.Fatalf("image %d in a batch of %d: pool3[%d] differs by %g", i, len(r.Images), k, d)
			}
		}
	}
	for k, v := range out[Dims64] {
		if early[Dims64][k] != v {
			t.Fatalf("dims 64 alone differs from dims 64 with pool3 at %d: %g vs %g", k, early[Dims64][k], v)
		}
	}
}

// TestBadWeightsFiles: a missing, truncated or other network's file is a *WeightsError that
// names the file and what is wrong; the good file loads with its sha256.
func TestBadWeightsFiles(t *testing.T) {
	dir := t.TempDir()
	good, err := os.ReadFile("testdata/weights.pth")
	if err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(dir, "truncated.pth")
	if err := os.WriteFile(truncated, good[:len(good)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	legacy, err := os.ReadFile("testdata/weights_legacy.pth")
	if err != nil {
		t.Fatal(err)
	}
	legacyCut := filepath.Join(dir, "legacy-cut.pth")
	if err := os.WriteFile(legacyCut, legacy[:len(legacy)-100], 0o644); err != nil {
		t.Fatal(err)
	}
	text := filepath.Join(dir, "text.pth")
	if err := os.WriteFile(text, []byte("not a checkpoint\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, path, want string }{
		{"missing", filepath.Join(dir, "absent.pth"), "no such file"},
		{"truncated", truncated, "truncated.pth"},
		{"legacy format truncated", legacyCut, "truncated"},
		{"not a checkpoint", text, "not a PyTorch checkpoint"},
		{"another network", "testdata/other.pth", "tensor Conv2d_1a_3x3.conv.weight has shape [16 3 3 3], the network's is [32 3 3 3]"},
	} {
		_, err := Load(c.path)
		var we *WeightsError
		if !errors.As(err, &we) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), filepath.Base(c.path)) {
			t.Errorf("%s: got %v, want a WeightsError naming %s and saying %q", c.name, err, filepath.Base(c.path), c.want)
		}
	}
	w, err := Load("testdata/weights.pth")
	if err != nil {
		t.Fatal(err)
	}
	if w.SHA256 != fileHash(t, "testdata/weights.pth") || !strings.HasPrefix(w.ID(), "fid_inception_v3@"+w.SHA256[:12]) {
		t.Fatalf("weights record sha256 %s, id %s", w.SHA256, w.ID())
	}
}

// TestLegacyWeightsEqualZip: the state dict saved in the legacy format and in the zip format
// lays out to the same weights, value for value; only the files' sha256 differ.
func TestLegacyWeightsEqualZip(t *testing.T) {
	zip, err := Load("testdata/weights.pth")
	if err != nil {
		t.Fatal(err)
	}
	legacy, err := Load("testdata/weights_legacy.pth")
	if err != nil {
		t.Fatal(err)
	}
	if zip.SHA256 == legacy.SHA256 || legacy.SHA256 != fileHash(t, "testdata/weights_legacy.pth") {
		t.Fatalf("sha256 %s (zip) and %s (legacy)", zip.SHA256, legacy.SHA256)
	}
	same := func(what string, a, b []float32) {
		t.Helper()
		if len(a) != len(b) {
			t.Fatalf("%s: %d values vs %d", what, len(a), len(b))
		}
		for i := range a {
			if a[i] != b[i] {
				t.Fatalf("%s[%d]: %g (zip) vs %g (legacy)", what, i, a[i], b[i])
			}
		}
	}
	if len(zip.convs) != len(legacy.convs) || len(zip.convs) != 94 {
		t.Fatalf("%d and %d convolutions, want 94", len(zip.convs), len(legacy.convs))
	}
	for name, c := range zip.convs {
		l := legacy.convs[name]
		if l == nil {
			t.Fatalf("legacy weights lack %s", name)
		}
		same(name+" kernel", c.kernel, l.kernel)
		same(name+" bias", c.bias, l.bias)
	}
	same("fc.weight", zip.fcW, legacy.fcW)
	same("fc.bias", zip.fcB, legacy.fcB)
}

func fileHash(t *testing.T, p string) string {
	s, err := digest.File(p)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestStateDictMismatches: the first mismatch in the network's order is named (a missing
// tensor, a wrong shape, a tensor the network lacks), and num_batches_tracked is accepted.
func TestStateDictMismatches(t *testing.T) {
	full := func() StateDict {
		sd := StateDict{Tensors: map[string]Tensor{}}
		for _, e := range Expected() {
			sd.Names = append(sd.Names, e.Name)
			data := make([]float32, numel(e.Shape))
			if strings.HasSuffix(e.Name, "running_var") {
				for i := range data {
					data[i] = 1
				}
			}
			sd.Tensors[e.Name] = Tensor{Shape: e.Shape, Data: data}
		}
		return sd
	}
	if _, err := FromStateDict(full(), "x", "f.pth"); err != nil {
		t.Fatalf("the network's own layout: %v", err)
	}
	for _, c := range []struct {
		name   string
		change func(*StateDict)
		want   string
	}{
		{"batch counts", func(sd *StateDict) {
			sd.Names = append(sd.Names, "Mixed_5b.branch1x1.bn.num_batches_tracked")
			sd.Tensors["Mixed_5b.branch1x1.bn.num_batches_tracked"] = Tensor{}
		}, ""},
		{"missing", func(sd *StateDict) { delete(sd.Tensors, "Mixed_6e.branch7x7dbl_3.bn.running_mean") },
			"it has no tensor Mixed_6e.branch7x7dbl_3.bn.running_mean (shape [192])"},
		{"shape", func(sd *StateDict) {
			sd.Tensors["fc.weight"] = Tensor{Shape: []int{1000, 2048}, Data: make([]float32, 2048000)}
		},
			"tensor fc.weight has shape [1000 2048], the network's is [1008 2048]"},
		{"extra", func(sd *StateDict) {
			sd.Names = append(sd.Names, "AuxLogits.fc.weight")
			sd.Tensors["AuxLogits.fc.weight"] = Tensor{Shape: []int{1008, 768}}
		}, "it holds tensor AuxLogits.fc.weight (shape [1008 768]), which the network does not have"},
		{"variance", func(sd *StateDict) { sd.Tensors["Conv2d_2a_3x3.bn.running_var"].Data[3] = -1 },
			"Conv2d_2a_3x3.bn.running_var[3] is -1"},
	} {
		sd := full()
		c.change(&sd)
		_, err := FromStateDict(sd, "x", "f.pth")
		if c.want == "" {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "f.pth") {
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
	}
}

// TestLocate: --inception first, then $DDPM_INCEPTION_WEIGHTS, then torch hub's cache; none
// of them is an error naming the file, its size and pytorch-fid's URL.
func TestLocate(t *testing.T) {
	hub := t.TempDir()
	t.Setenv("TORCH_HOME", hub)
	t.Setenv(WeightsEnv, "")
	_, err := Locate("")
	var we *WeightsError
	if !errors.As(err, &we) {
		t.Fatalf("nothing there: got %v, want a WeightsError", err)
	}
	for _, s := range []string{WeightsFile, WeightsURL, "23885392 float32 values", filepath.Join(hub, "hub", "checkpoints"), "never downloads"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("the error does not say %q: %v", s, err)
		}
	}
	cached := filepath.Join(hub, "hub", "checkpoints", WeightsFile)
	if err := os.MkdirAll(filepath.Dir(cached), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cached, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ flag, env, want string }{
		{"", "", cached}, {"", "/e.pth", "/e.pth"}, {"/f.pth", "/e.pth", "/f.pth"},
	} {
		t.Setenv(WeightsEnv, c.env)
		if got, err := Locate(c.flag); err != nil || got != c.want {
			t.Errorf("flag %q env %q: got %q, %v; want %q", c.flag, c.env, got, err, c.want)
		}
	}
}

// TestBatchNormFolded: each BatchNorm is folded into its convolution: the kernel times
// gamma/sqrt(var + eps) per output channel, laid out [kh, kw, cin, cout], and the bias beta -
// mean*gamma/sqrt(var + eps), on numbers whose results are exact.
func TestBatchNormFolded(t *testing.T) {
	sd := StateDict{Tensors: map[string]Tensor{}}
	for _, e := range Expected() {
		sd.Names = append(sd.Names, e.Name)
		data := make([]float32, numel(e.Shape))
		if strings.HasSuffix(e.Name, "running_var") {
			for i := range data {
				data[i] = 1
			}
		}
		sd.Tensors[e.Name] = Tensor{Shape: e.Shape, Data: data}
	}
	// Conv2d_1a_3x3: 32 output channels of [3, 3, 3]; channel o gets gamma 2(o+1), variance
	// 4 - eps (so sqrt(var + eps) = 2 and the scale is o+1), beta 1 and mean 0.5.
	const name = "Conv2d_1a_3x3"
	weight := sd.Tensors[name+".conv.weight"].Data
	for i := range weight {
		weight[i] = float32(i%27) - 13 // [cout][cin][kh][kw]: the tap (cin, y, x) is i%27
	}
	for o := range 32 {
		sd.Tensors[name+".bn.weight"].Data[o] = float32(2 * (o + 1))
		sd.Tensors[name+".bn.running_var"].Data[o] = float32(4 - BatchNormEps)
		sd.Tensors[name+".bn.bias"].Data[o] = 1
		sd.Tensors[name+".bn.running_mean"].Data[o] = 0.5
	}
	w, err := FromStateDict(sd, "x", "f.pth")
	if err != nil {
		t.Fatal(err)
	}
	cv := w.convs[name]
	for o := range 32 {
		scale := float64(2*(o+1)) / math.Sqrt(float64(float32(4-BatchNormEps))+BatchNormEps)
		if want := float32(1 - 0.5*scale); cv.bias[o] != want {
			t.Fatalf("bias[%d] = %g, want %g", o, cv.bias[o], want)
		}
		for ci := range 3 {
			for y := range 3 {
				for x := range 3 {
					tap := (ci*3+y)*3 + x
					want := float32(float64(tap-13) * scale)
					if got := cv.kernel[((y*3+x)*3+ci)*32+o]; got != want {
						t.Fatalf("kernel (y %d, x %d, cin %d, cout %d) = %g, want %g", y, x, ci, o, got, want)
					}
				}
			}
		}
	}
}

// TestChunksChangeNoBits: Forward's chunks change no value: three images in chunks of one,
// two and three give every output bit for bit alike. (On simplego's own kernels the stem
// alone takes minutes here, so the test runs on the fast kernels only; simplego's loops,
// too, treat each image alike at any batch size.)
func TestChunksChangeNoBits(t *testing.T) {
	net := fixtureNet(t)
	if !gokernels.Active() {
		t.Skip("the fast kernels are off ($DDPM_FAST_MATMUL=0): simplego's convolutions take minutes for these images")
	}
	x := make([]float32, 3*Side*Side*3)
	for i := range x {
		x[i] = float32(math.Sin(float64(i)*0.37)) * 0.9
	}
	all := Dims64 | Dims192 | Dims768 | Pool3 | LogitsOut | Mixed6 | Spatial
	whole, err := net.forward(x, 3, all, 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, chunk := range []int{1, 2} {
		got, err := net.forward(x, 3, all, chunk)
		if err != nil {
			t.Fatal(err)
		}
		for o, want := range whole {
			if len(got[o]) != len(want) || len(want) != 3*o.Size() {
				t.Fatalf("chunks of %d: output %d has %d values, want %d", chunk, o.Size(), len(got[o]), 3*o.Size())
			}
			for k := range want {
				if math.Float32bits(got[o][k]) != math.Float32bits(want[k]) {
					t.Fatalf("chunks of %d: output %d value %d is %g, in one chunk %g", chunk, o.Size(), k, got[o][k], want[k])
				}
			}
		}
	}
}
