// Package torch reads PyTorch checkpoints: the zip archives torch.save has written since
// PyTorch 1.6 (a pickle, archive/data.pkl, whose tensors point at raw storages stored beside it
// as archive/data/<key>), and the legacy format before it (still written with
// _use_new_zipfile_serialization=False): a run of pickles (a magic number, a protocol version,
// the system's description, the object, the storage keys) followed by each storage's element
// count and little-endian bytes. Both are read by gopickle's loader and its PyTorch classes;
// this package checks a file's layout first, so that a damaged or truncated file is refused
// with a reason rather than read wrong, and turns what the loader returns into a state dict
// of row-major tensors, honouring each tensor's storage offset and strides and the archive's
// byte order.
package torch

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"math/bits"
	"os"
	"path"
	"strings"

	"github.com/nlpodyssey/gopickle/pytorch"
	"github.com/nlpodyssey/gopickle/types"
)

// maxRecord bounds the small records (byteorder) read whole from the archive.
const maxRecord = 64

// Tensor is one tensor of a checkpoint with its values gathered into row-major order.
type Tensor struct {
	// DType is PyTorch's name for the element type: float32, float64, float16, bfloat16,
	// int64, int32, int16, int8, uint8 or bool.
	DType string
	// Shape is the tensor's size; empty for a 0-d (scalar) tensor.
	Shape []int

	f32 []float32 // float32, float16 and bfloat16 (both widened exactly by gopickle)
	f64 []float64 // float64
	i64 []int64   // the integer types and bool
}

// Len is the number of elements, the product of Shape (1 for a scalar).
func (t *Tensor) Len() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// IsFloat says whether the tensor holds floating-point values.
func (t *Tensor) IsFloat() bool {
	switch t.DType {
	case "float32", "float64", "float16", "bfloat16":
		return true
	}
	return false
}

// Float32 returns the values as float32 in row-major order: float16 and bfloat16 widen
// exactly, float64 rounds to nearest. An integer or bool tensor is refused, since reading
// one as weights is a mistake a caller should hear about.
func (t *Tensor) Float32() ([]float32, error) {
	switch {
	case t.f32 != nil:
		return t.f32, nil
	case t.f64 != nil:
		out := make([]float32, len(t.f64))
		for i, v := range t.f64 {
			out[i] = float32(v)
		}
		return out, nil
	case t.DType == "float32" || t.DType == "float16" || t.DType == "bfloat16":
		return []float32{}, nil
	case t.DType == "float64":
		return []float32{}, nil
	}
	return nil, fmt.Errorf("a %s tensor is not floating point", t.DType)
}

// Float64 returns the values as float64 in row-major order (exact for every dtype this
// package reads except int64 beyond 2^53).
func (t *Tensor) Float64() []float64 {
	switch {
	case t.f64 != nil:
		return t.f64
	case t.f32 != nil:
		out := make([]float64, len(t.f32))
		for i, v := range t.f32 {
			out[i] = float64(v)
		}
		return out
	}
	out := make([]float64, len(t.i64))
	for i, v := range t.i64 {
		out[i] = float64(v)
	}
	return out
}

// Int64 returns the values of an integer or bool tensor (bool as 0 and 1).
func (t *Tensor) Int64() ([]int64, error) {
	if t.IsFloat() {
		return nil, fmt.Errorf("a %s tensor is not an integer tensor", t.DType)
	}
	if t.i64 == nil {
		return []int64{}, nil
	}
	return t.i64, nil
}

// StateDict is a checkpoint's tensors by name, with the names in the file's order. Nested
// dictionaries (a checkpoint holding {"model": state_dict, "ema": state_dict}) are flattened
// with dotted names ("model.conv.weight"), as PyTorch names a submodule's parameters.
type StateDict struct {
	Names   []string
	Tensors map[string]*Tensor
}

// ReadStateDict reads the PyTorch checkpoint at path, a dictionary (nested or not) whose
// leaves are all tensors: what torch.save(module.state_dict(), path) writes. Every error
// names the file.
func ReadStateDict(path string) (*StateDict, error) {
	sd, err := readStateDict(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return sd, nil
}

func readStateDict(file string) (*StateDict, error) {
	bigEndian, err := checkArchive(file)
	if err != nil {
		return nil, err
	}
	root, err := load(file)
	if err != nil {
		return nil, err
	}
	sd := &StateDict{Tensors: map[string]*Tensor{}}
	swapped := map[pytorch.StorageInterface]bool{}
	var walk func(prefix string, v any) error
	walk = func(prefix string, v any) error {
		var keys, vals []any
		switch d := v.(type) {
		case *types.OrderedDict:
			for e := d.List.Front(); e != nil; e = e.Next() {
				entry := e.Value.(*types.OrderedDictEntry)
				keys, vals = append(keys, entry.Key), append(vals, entry.Value)
			}
		case *types.Dict:
			for _, entry := range *d {
				keys, vals = append(keys, entry.Key), append(vals, entry.Value)
			}
		default:
			return fmt.Errorf("the checkpoint is a %s, not a dictionary of tensors (a state dict)", pyTypeName(v))
		}
		for i, k := range keys {
			name, ok := k.(string)
			if !ok {
				return fmt.Errorf("a key of %s is a %s, not a string", describePrefix(prefix), pyTypeName(k))
			}
			full := prefix + name
			switch val := vals[i].(type) {
			case *types.OrderedDict, *types.Dict:
				if err := walk(full+".", val); err != nil {
					return err
				}
			case *pytorch.Tensor:
				if _, dup := sd.Tensors[full]; dup {
					return fmt.Errorf("two entries flatten to the name %q", full)
				}
				if bigEndian && !swapped[val.Source] {
					if err := swapStorage(val.Source); err != nil {
						return fmt.Errorf("tensor %q: %w", full, err)
					}
					swapped[val.Source] = true
				}
				t, err := gather(val)
				if err != nil {
					return fmt.Errorf("tensor %q: %w", full, err)
				}
				sd.Names = append(sd.Names, full)
				sd.Tensors[full] = t
			default:
				return fmt.Errorf("entry %q is a %s, not a tensor (a state dict holds only tensors)", full, pyTypeName(val))
			}
		}
		return nil
	}
	if err := walk("", root); err != nil {
		return nil, err
	}
	return sd, nil
}

func describePrefix(prefix string) string {
	if prefix == "" {
		return "the checkpoint"
	}
	return fmt.Sprintf("%q", strings.TrimSuffix(prefix, "."))
}

// checkArchive tells a missing file, a file that is neither a zip archive nor the legacy
// format, a truncated one and an archive without a pickle apart before gopickle sees the file
// (its loader treats any non-zip file as PyTorch's legacy format, and a tar of that format
// panics there). It returns whether the storages are big-endian (archive/byteorder, written
// by newer PyTorch; the legacy format is always little-endian).
func checkArchive(file string) (bigEndian bool, err error) {
	f, err := os.Open(file)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return false, errors.New("no such file")
		}
		return false, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return false, err
	}
	if !st.Mode().IsRegular() {
		return false, errors.New("not a regular file")
	}
	head := make([]byte, 4)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	zr, zerr := zip.NewReader(f, st.Size())
	if zerr != nil {
		switch {
		case bytes.HasPrefix(head, []byte("PK")):
			return false, fmt.Errorf("a damaged or truncated zip archive (%v)", zerr)
		case len(head) >= 2 && head[0] == 0x80 && head[1] <= 5:
			// A pickle: PyTorch's legacy format if its layout says so.
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				return false, err
			}
			return false, checkLegacy(f, st.Size())
		}
		return false, errors.New("not a PyTorch checkpoint (torch.save writes a zip archive; this file is not one)")
	}
	var pkl bool
	for _, zf := range zr.File {
		switch path.Base(zf.Name) {
		case "constants.pkl":
			return false, errors.New("a TorchScript archive (torch.jit.save), not a checkpoint of torch.save")
		case "data.pkl":
			pkl = true
		case "byteorder":
			rc, err := zf.Open()
			if err != nil {
				return false, fmt.Errorf("record %s: %w", zf.Name, err)
			}
			b, err := io.ReadAll(io.LimitReader(rc, maxRecord))
			rc.Close()
			if err != nil {
				return false, fmt.Errorf("record %s: %w", zf.Name, err)
			}
			switch order := strings.TrimSpace(string(b)); order {
			case "little":
			case "big":
				bigEndian = true
			default:
				return false, fmt.Errorf("record %s says byte order %q; want little or big", zf.Name, order)
			}
		}
	}
	if !pkl {
		return false, errors.New("a zip archive without data.pkl: not a checkpoint of torch.save")
	}
	return bigEndian, nil
}

// load runs gopickle's loader, turning a panic inside it (it has a few for inputs it does not
// expect) into an error.
func load(file string) (root any, err error) {
	defer func() {
		if r := recover(); r != nil {
			root, err = nil, fmt.Errorf("reading the pickle failed: %v", r)
		}
	}()
	root, err = pytorch.Load(file)
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("truncated: a storage or the pickle ends early (%w)", err)
		}
		if errors.Is(err, zip.ErrChecksum) {
			return nil, fmt.Errorf("damaged: a record's checksum does not match (%w)", err)
		}
		return nil, fmt.Errorf("reading the pickle failed: %w", err)
	}
	return root, nil
}

// swapStorage reverses the bytes of each element of a storage gopickle read as
// little-endian from a big-endian archive; the 16-bit float types are widened while read,
// so their original bits are gone and such an archive is refused.
func swapStorage(s pytorch.StorageInterface) error {
	switch st := s.(type) {
	case *pytorch.FloatStorage:
		for i, v := range st.Data {
			st.Data[i] = math.Float32frombits(bits.ReverseBytes32(math.Float32bits(v)))
		}
	case *pytorch.DoubleStorage:
		for i, v := range st.Data {
			st.Data[i] = math.Float64frombits(bits.ReverseBytes64(math.Float64bits(v)))
		}
	case *pytorch.LongStorage:
		for i, v := range st.Data {
			st.Data[i] = int64(bits.ReverseBytes64(uint64(v)))
		}
	case *pytorch.IntStorage:
		for i, v := range st.Data {
			st.Data[i] = int32(bits.ReverseBytes32(uint32(v)))
		}
	case *pytorch.ShortStorage:
		for i, v := range st.Data {
			st.Data[i] = int16(bits.ReverseBytes16(uint16(v)))
		}
	case *pytorch.ByteStorage, *pytorch.CharStorage, *pytorch.BoolStorage:
	default:
		return fmt.Errorf("a big-endian archive with %s storage is not read", storageDType(s))
	}
	return nil
}

func storageDType(s pytorch.StorageInterface) string {
	switch s.(type) {
	case *pytorch.FloatStorage:
		return "float32"
	case *pytorch.DoubleStorage:
		return "float64"
	case *pytorch.HalfStorage:
		return "float16"
	case *pytorch.BFloat16Storage:
		return "bfloat16"
	case *pytorch.LongStorage:
		return "int64"
	case *pytorch.IntStorage:
		return "int32"
	case *pytorch.ShortStorage:
		return "int16"
	case *pytorch.CharStorage:
		return "int8"
	case *pytorch.ByteStorage:
		return "uint8"
	case *pytorch.BoolStorage:
		return "bool"
	}
	return fmt.Sprintf("%T", s)
}

// gather copies a tensor's elements out of its storage into row-major order, following its
// storage offset and strides (a transposed view, a slice of a shared storage), after checking
// that every element it addresses lies inside the storage.
func gather(pt *pytorch.Tensor) (*Tensor, error) {
	if len(pt.Stride) != len(pt.Size) {
		return nil, fmt.Errorf("%d strides for %d dimensions", len(pt.Stride), len(pt.Size))
	}
	t := &Tensor{DType: storageDType(pt.Source), Shape: append([]int{}, pt.Size...)}
	n := 1
	last := pt.StorageOffset
	for i, d := range pt.Size {
		if d < 0 || pt.Stride[i] < 0 {
			return nil, fmt.Errorf("size %v with strides %v is not a tensor this reader takes", pt.Size, pt.Stride)
		}
		n *= d
		if d > 0 {
			last += (d - 1) * pt.Stride[i]
		}
	}
	if pt.StorageOffset < 0 {
		return nil, fmt.Errorf("storage offset %d", pt.StorageOffset)
	}
	idx := func(yield func(int, int)) {
		if n == 0 {
			return
		}
		pos := make([]int, len(pt.Size))
		off := pt.StorageOffset
		for i := 0; i < n; i++ {
			yield(i, off)
			for d := len(pos) - 1; d >= 0; d-- {
				pos[d]++
				off += pt.Stride[d]
				if pos[d] < pt.Size[d] {
					break
				}
				off -= pos[d] * pt.Stride[d]
				pos[d] = 0
			}
		}
	}
	check := func(size int) error {
		if n > 0 && last >= size {
			return fmt.Errorf("shape %v, strides %v and offset %d address element %d of a storage of %d",
				pt.Size, pt.Stride, pt.StorageOffset, last, size)
		}
		return nil
	}
	switch st := pt.Source.(type) {
	case *pytorch.FloatStorage:
		if err := check(len(st.Data)); err != nil {
			return nil, err
		}
		t.f32 = gatherSlice(st.Data, n, idx)
	case *pytorch.HalfStorage:
		if err := check(len(st.Data)); err != nil {
			return nil, err
		}
		t.f32 = gatherSlice(st.Data, n, idx)
	case *pytorch.BFloat16Storage:
		if err := check(len(st.Data)); err != nil {
			return nil, err
		}
		t.f32 = gatherSlice(st.Data, n, idx)
	case *pytorch.DoubleStorage:
		if err := check(len(st.Data)); err != nil {
			return nil, err
		}
		t.f64 = gatherSlice(st.Data, n, idx)
	case *pytorch.LongStorage:
		if err := check(len(st.Data)); err != nil {
			return nil, err
		}
		t.i64 = widen(gatherSlice(st.Data, n, idx))
	case *pytorch.IntStorage:
		if err := check(len(st.Data)); err != nil {
			return nil, err
		}
		t.i64 = widen(gatherSlice(st.Data, n, idx))
	case *pytorch.ShortStorage:
		if err := check(len(st.Data)); err != nil {
			return nil, err
		}
		t.i64 = widen(gatherSlice(st.Data, n, idx))
	case *pytorch.CharStorage:
		if err := check(len(st.Data)); err != nil {
			return nil, err
		}
		t.i64 = widen(gatherSlice(st.Data, n, idx))
	case *pytorch.ByteStorage:
		if err := check(len(st.Data)); err != nil {
			return nil, err
		}
		t.i64 = widen(gatherSlice(st.Data, n, idx))
	case *pytorch.BoolStorage:
		if err := check(len(st.Data)); err != nil {
			return nil, err
		}
		b := gatherSlice(st.Data, n, idx)
		t.i64 = make([]int64, len(b))
		for i, v := range b {
			if v {
				t.i64[i] = 1
			}
		}
	default:
		return nil, fmt.Errorf("storage type %T is not read", pt.Source)
	}
	return t, nil
}

func gatherSlice[E any](data []E, n int, idx func(func(int, int))) []E {
	out := make([]E, n)
	idx(func(i, off int) { out[i] = data[off] })
	return out
}

func widen[E int8 | int16 | int32 | int64 | uint8](in []E) []int64 {
	out := make([]int64, len(in))
	for i, v := range in {
		out[i] = int64(v)
	}
	return out
}

// pyTypeName names a value gopickle returned by the Python type it stands for.
func pyTypeName(v any) string {
	switch v := v.(type) {
	case nil:
		return "None"
	case string:
		return "str"
	case int, *big.Int:
		return "int"
	case float64:
		return "float"
	case bool:
		return "bool"
	case *types.List:
		return "list"
	case *types.Tuple:
		return "tuple"
	case *types.GenericObject:
		return v.Class.Module + "." + v.Class.Name
	}
	return fmt.Sprintf("%T", v)
}
