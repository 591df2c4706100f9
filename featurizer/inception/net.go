package inception

import (
	"fmt"
	"sync"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// Output selects what Forward returns; outputs are or-ed together.
type Output uint

// The network's outputs: pytorch-fid's four feature blocks (the first three averaged over
// their spatial positions, as pytorch-fid's fid_score does), the classifier's logits, the
// last C block's output at 17x17, and guided-diffusion's spatial features.
const (
	Dims64    Output = 1 << iota // after the first max pooling, spatial mean: 64
	Dims192                      // after the second max pooling, spatial mean: 192
	Dims768                      // Mixed_6e's output, spatial mean: 768
	Pool3                        // the final average pooling: 2048 (pytorch-fid's default)
	LogitsOut                    // the 1008 logits (with the classifier's bias)
	Mixed6                       // Mixed_6e's output as [17, 17, 768] per image (channels last)
	// Spatial is guided-diffusion's sFID features: TensorFlow's mixed_6/conv, its first 7
	// channels, as [17, 17, 7] per image (channels last, as TensorFlow flattens them): 2023.
	// TensorFlow's graph numbers its mixed blocks from 0 (mixed is Mixed_5b), so mixed_6 is
	// Mixed_6d, and mixed_6/conv its 1x1 branch, whose 192 channels come first in the block's
	// output.
	Spatial
)

// SpatialChannels is how many of mixed_6/conv's channels guided-diffusion's spatial FID keeps.
const SpatialChannels = 7

// Side is the network's input size: images are resized to Side x Side.
const Side = 299

// ForDims is the output that pytorch-fid's --dims N selects (64, 192, 768 or 2048).
func ForDims(dims int) (Output, error) {
	switch dims {
	case 64:
		return Dims64, nil
	case 192:
		return Dims192, nil
	case 768:
		return Dims768, nil
	case 2048:
		return Pool3, nil
	}
	return 0, fmt.Errorf("dims %d: pytorch-fid's Inception gives 64, 192, 768 or 2048", dims)
}

// Size is the number of values per image of one output.
func (o Output) Size() int {
	switch o {
	case Dims64:
		return 64
	case Dims192:
		return 192
	case Dims768:
		return 768
	case Pool3:
		return 2048
	case LogitsOut:
		return Logits
	case Mixed6:
		return 17 * 17 * 768
	case Spatial:
		return 17 * 17 * SpatialChannels
	}
	panic(fmt.Sprintf("inception: Size of a combination of outputs (%d)", uint(o)))
}

// order lists the single outputs in the order Forward returns them.
var order = []Output{Dims64, Dims192, Dims768, Pool3, LogitsOut, Mixed6, Spatial}

// Net is the FID Inception on a GoMLX backend. One Net may serve several goroutines.
type Net struct {
	backend backends.Backend
	weights *Weights
	params  []*tensors.Tensor // the weights as graph inputs, in paramOrder
	mu      sync.Mutex
	execs   map[Output]*graph.Exec
}

// New prepares the network with the given weights on a backend.
func New(b backends.Backend, w *Weights) *Net {
	n := &Net{backend: b, weights: w, execs: map[Output]*graph.Exec{}}
	for _, bl := range blocks {
		for _, l := range bl.layers {
			cv := w.convs[l.name]
			n.params = append(n.params,
				tensors.FromFlatDataAndDimensions(cv.kernel, l.kh, l.kw, l.cin, l.cout),
				tensors.FromFlatDataAndDimensions(cv.bias, 1, 1, 1, l.cout))
		}
	}
	n.params = append(n.params,
		tensors.FromFlatDataAndDimensions(w.fcW, 2048, Logits),
		tensors.FromFlatDataAndDimensions(w.fcB, 1, Logits))
	return n
}

// Weights are the network's weights.
func (n *Net) Weights() *Weights { return n.weights }

// Finalize releases the compiled graphs.
func (n *Net) Finalize() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, e := range n.execs {
		e.Finalize()
	}
	n.execs = map[Output]*graph.Exec{}
}

// ForwardChunk is the most images Forward runs through the graph at once. The activations
// grow with the images in one pass (the stem's 147x147 maps most), and the go backend keeps
// the buffers it frees for reuse until a garbage collection, so one pass over a whole
// batch held memory in proportion to the batch; in chunks it stays bounded whatever the
// batch, and a chunk this size still keeps every core busy. Every op treats each image on
// its own with the same arithmetic at any batch size, so the chunks change no value
// (TestChunksChangeNoBits).
const ForwardChunk = 8

// Forward runs images already preprocessed (Preprocess: [count, 299, 299, 3], channels last,
// in [-1, 1]) through the network, at most ForwardChunk at a time, and returns the asked
// outputs, each count x Size values, in the order of the Output constants.
func (n *Net) Forward(images []float32, count int, want Output) (map[Output][]float32, error) {
	return n.forward(images, count, want, ForwardChunk)
}

func (n *Net) forward(images []float32, count int, want Output, chunk int) (map[Output][]float32, error) {
	if want == 0 || want >= Spatial<<1 {
		return nil, fmt.Errorf("inception: no outputs or unknown outputs asked (%d)", uint(want))
	}
	if len(images) != count*Side*Side*3 {
		return nil, fmt.Errorf("inception: %d values for %d images of %dx%dx3", len(images), count, Side, Side)
	}
	exec, err := n.exec(want)
	if err != nil {
		return nil, err
	}
	res := map[Output][]float32{}
	for _, o := range order {
		if want&o != 0 {
			res[o] = make([]float32, 0, count*o.Size())
		}
	}
	const per = Side * Side * 3
	for start := 0; start < count; start += chunk {
		end := min(start+chunk, count)
		args := make([]any, 0, 1+len(n.params))
		args = append(args, tensors.FromFlatDataAndDimensions(images[start*per:end*per], end-start, Side, Side, 3))
		for _, p := range n.params {
			args = append(args, p)
		}
		outs, err := exec.Exec(args...)
		if err != nil {
			return nil, fmt.Errorf("inception: %w", err)
		}
		i := 0
		for _, o := range order {
			if want&o == 0 {
				continue
			}
			if err == nil {
				err = outs[i].ConstFlatData(func(flat any) { res[o] = append(res[o], flat.([]float32)...) })
			}
			outs[i].FinalizeAll()
			i++
		}
		if err != nil {
			return nil, fmt.Errorf("inception: %w", err)
		}
	}
	return res, nil
}

func (n *Net) exec(want Output) (*graph.Exec, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if e, ok := n.execs[want]; ok {
		return e, nil
	}
	e, err := graph.NewExec(n.backend, func(in []*graph.Node) []*graph.Node { return build(in[0], in[1:], want) })
	if err != nil {
		return nil, fmt.Errorf("inception: %w", err)
	}
	n.execs[want] = e
	return e, nil
}

// graphWeights hands out the weight inputs in the order New laid them out.
type graphWeights struct {
	in []*graph.Node
	i  int
}

func (g *graphWeights) next() *graph.Node {
	v := g.in[g.i]
	g.i++
	return v
}

// build is the network's graph on x [N, 299, 299, 3]; it stops after the last block that
// an asked output needs, as pytorch-fid's InceptionV3 does.
func build(x *graph.Node, params []*graph.Node, want Output) []*graph.Node {
	gw := &graphWeights{in: params}
	got := map[Output]*graph.Node{}
	spatialMean := func(h *graph.Node) *graph.Node { return graph.ReduceMean(h, 1, 2) }
	bi := 0
	nextBlock := func() block { b := blocks[bi]; bi++; return b }
	last := want&(Pool3|LogitsOut) != 0

	// Block 0: the stem to the first max pooling.
	b := nextBlock()
	h := x
	for _, l := range b.layers {
		h = basicConv(h, l, gw)
	}
	h = maxPool(h, 2, 0)
	got[Dims64] = spatialMean(h)
	if want < Dims192 {
		return collect(got, want)
	}
	// Block 1: to the second max pooling.
	b = nextBlock()
	for _, l := range b.layers {
		h = basicConv(h, l, gw)
	}
	h = maxPool(h, 2, 0)
	got[Dims192] = spatialMean(h)
	if want < Dims768 {
		return collect(got, want)
	}
	// Block 2: Mixed_5b to Mixed_6e.
	for range 8 {
		b = nextBlock()
		h = inceptionBlock(h, b, gw, b.name == "Mixed_7c")
		if b.name == "Mixed_6d" {
			got[Spatial] = graph.Slice(h, graph.AxisRange(), graph.AxisRange(), graph.AxisRange(), graph.AxisRange(0, SpatialChannels))
		}
	}
	got[Dims768] = spatialMean(h)
	got[Mixed6] = h
	if !last {
		return collect(got, want)
	}
	// Block 3: Mixed_7a to the final average pooling, then the classifier.
	for range 3 {
		b = nextBlock()
		h = inceptionBlock(h, b, gw, b.name == "Mixed_7c")
	}
	pool := spatialMean(h)
	got[Pool3] = pool
	fcW, fcB := gw.next(), gw.next()
	got[LogitsOut] = graph.Add(graph.MatMul(pool, fcW), fcB)
	return collect(got, want)
}

func collect(got map[Output]*graph.Node, want Output) []*graph.Node {
	var out []*graph.Node
	for _, o := range order {
		if want&o != 0 {
			v := got[o]
			if o == Mixed6 || o == Spatial {
				// Keep [N, 17, 17, C] flat per image.
				v = graph.Reshape(v, v.Shape().Dimensions[0], -1)
			}
			out = append(out, v)
		}
	}
	return out
}

// nhwc is a convolution's axes with the input and output [N, H, W, C] and the kernel
// [kh, kw, cin, cout].
var nhwc = backends.ConvolveAxesConfig{
	InputBatch: 0, InputChannels: 3, InputSpatial: []int{1, 2},
	KernelInputChannels: 2, KernelOutputChannels: 3, KernelSpatial: []int{0, 1},
	OutputBatch: 0, OutputChannels: 3, OutputSpatial: []int{1, 2},
}

// basicConv is torchvision's BasicConv2d in inference: convolution, BatchNorm on its running
// statistics (folded into the kernel and a bias at load time), ReLU.
func basicConv(x *graph.Node, l convLayer, gw *graphWeights) *graph.Node {
	return applyConv(x, l, gw.next(), gw.next())
}

// applyConv is one BasicConv2d with its folded kernel and bias.
func applyConv(x *graph.Node, l convLayer, k, bias *graph.Node) *graph.Node {
	y := graph.ConvGeneral(x, k, nhwc, []int{l.stride, l.stride}, [][2]int{{l.ph, l.ph}, {l.pw, l.pw}},
		[]int{1, 1}, []int{1, 1}, 1, 1)
	return graph.MaxScalar(graph.Add(y, bias), 0)
}

// maxPool is a 3x3 max pooling at the given stride and padding (padding never wins: every
// input is a ReLU's output, at least 0, and the padded value is the lowest float).
func maxPool(x *graph.Node, stride, pad int) *graph.Node {
	return graph.MaxPool(x).Window(3).Strides(stride).PaddingPerDim([][2]int{{pad, pad}, {pad, pad}}).Done()
}

// avgPoolNoPad is F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False): each
// window's sum divided by the number of its positions inside the image (TensorFlow's
// average pooling, which the FID blocks keep).
func avgPoolNoPad(x *graph.Node) *graph.Node {
	dims := x.Shape().Dimensions
	h, w := dims[1], dims[2]
	count := make([]float32, h*w)
	span := func(i, n int) int { return min(i+1, n-1) - max(i-1, 0) + 1 }
	for y := range h {
		for xx := range w {
			count[y*w+xx] = float32(span(y, h) * span(xx, w))
		}
	}
	sum := graph.SumPool(x).Window(3).Strides(1).PaddingPerDim([][2]int{{1, 1}, {1, 1}}).Done()
	return graph.Div(sum, graph.Const(x.Graph(), tensors.FromFlatDataAndDimensions(count, 1, h, w, 1)))
}

// inceptionBlock runs one of the Mixed blocks; e2 marks the last E block, whose pooling
// branch is a max pooling in the FID network.
func inceptionBlock(x *graph.Node, b block, gw *graphWeights, e2 bool) *graph.Node {
	var out []*graph.Node
	switch b.kind {
	case 'A':
		w := takeBlock(b, gw)
		out = []*graph.Node{
			w.run("branch1x1", x),
			w.run("branch5x5_2", w.run("branch5x5_1", x)),
			w.run("branch3x3dbl_3", w.run("branch3x3dbl_2", w.run("branch3x3dbl_1", x))),
			w.run("branch_pool", avgPoolNoPad(x)),
		}
	case 'B':
		w := takeBlock(b, gw)
		out = []*graph.Node{
			w.run("branch3x3", x),
			w.run("branch3x3dbl_3", w.run("branch3x3dbl_2", w.run("branch3x3dbl_1", x))),
			maxPool(x, 2, 0),
		}
	case 'C':
		w := takeBlock(b, gw)
		out = []*graph.Node{
			w.run("branch1x1", x),
			w.run("branch7x7_3", w.run("branch7x7_2", w.run("branch7x7_1", x))),
			w.run("branch7x7dbl_5", w.run("branch7x7dbl_4", w.run("branch7x7dbl_3", w.run("branch7x7dbl_2", w.run("branch7x7dbl_1", x))))),
			w.run("branch_pool", avgPoolNoPad(x)),
		}
	case 'D':
		w := takeBlock(b, gw)
		out = []*graph.Node{
			w.run("branch3x3_2", w.run("branch3x3_1", x)),
			w.run("branch7x7x3_4", w.run("branch7x7x3_3", w.run("branch7x7x3_2", w.run("branch7x7x3_1", x)))),
			maxPool(x, 2, 0),
		}
	case 'E':
		w := takeBlock(b, gw)
		b3 := w.run("branch3x3_1", x)
		d3 := w.run("branch3x3dbl_2", w.run("branch3x3dbl_1", x))
		var pool *graph.Node
		if e2 {
			pool = maxPool(x, 1, 1)
		} else {
			pool = avgPoolNoPad(x)
		}
		out = []*graph.Node{
			w.run("branch1x1", x),
			w.run("branch3x3_2a", b3), w.run("branch3x3_2b", b3),
			w.run("branch3x3dbl_3a", d3), w.run("branch3x3dbl_3b", d3),
			w.run("branch_pool", pool),
		}
	default:
		panic("inception: unknown block kind")
	}
	return graph.Concatenate(out, 3)
}

// blockWeights are one block's layers with their weight inputs, by the layer's name within
// the block.
type blockWeights struct {
	layers map[string]convLayer
	in     map[string][2]*graph.Node
}

// takeBlock takes a block's weight inputs in the state dict's order.
func takeBlock(b block, gw *graphWeights) blockWeights {
	w := blockWeights{layers: map[string]convLayer{}, in: map[string][2]*graph.Node{}}
	for _, l := range b.layers {
		short := l.name[len(b.name)+1:]
		w.layers[short] = l
		w.in[short] = [2]*graph.Node{gw.next(), gw.next()}
	}
	return w
}

func (w blockWeights) run(name string, x *graph.Node) *graph.Node {
	l, ok := w.layers[name]
	if !ok {
		panic("inception: no layer " + name)
	}
	p := w.in[name]
	return applyConv(x, l, p[0], p[1])
}
