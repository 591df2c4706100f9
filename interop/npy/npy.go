// Package npy reads and writes NumPy's .npy and .npz files, the format in which the field
// exchanges arrays: a chosen starting noise x_T (float32 [N, C, H, W], as PyTorch lays it
// out), samples as improved-diffusion's image_sample.py writes them (an .npz whose arr_0 is
// uint8 [N, H, W, C]) and the dataset statistics pytorch-fid keeps (an .npz with mu float64
// [D] and sigma float64 [D, D]).
//
// Files are read with codeberg.org/sbinet/npyio, after their dtype, memory order and shape
// are checked against what the caller expects, so that a wrong file is refused with an error
// naming it, what it holds and what was wanted. Files are written as numpy.save and
// numpy.savez write them (format version 1.0, C order, little-endian; an .npz is an
// uncompressed zip of NAME.npy members) through internal/atomicfile, so a reader sees the old
// file or the whole new one. npyio cannot write an array of more than two dimensions from a
// flat slice, so the short .npy header is written here; every test reads it back with npyio.
package npy

import (
	"archive/zip"
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"codeberg.org/sbinet/npyio/npy"
	"codeberg.org/sbinet/npyio/npz"

	"github.com/ddpm-runner/ddpm-runner/internal/atomicfile"
)

// Elem is an element type this package reads and writes.
type Elem interface {
	uint8 | float32 | float64
}

// Any stands for one length of a wanted shape that may be anything.
const Any = -1

// dtype is NumPy's description of T as numpy.save writes it on a little-endian machine.
func dtype[T Elem]() (descr, name string) {
	var v T
	switch any(v).(type) {
	case uint8:
		return "|u1", "uint8"
	case float32:
		return "<f4", "float32"
	default:
		return "<f8", "float64"
	}
}

// dtypeName is a NumPy dtype description in words where this package knows it.
func dtypeName(descr string) string {
	names := map[string]string{"|u1": "uint8", "<f4": "float32", "<f8": "float64", "<f2": "float16",
		">f4": "big-endian float32", ">f8": "big-endian float64", "|i1": "int8", "<i2": "int16",
		"<i4": "int32", "<i8": "int64", "|b1": "bool", "<u2": "uint16", "<u4": "uint32", "<u8": "uint64"}
	if n, ok := names[descr]; ok {
		return n
	}
	return "dtype " + descr
}

// ShapeString writes a shape as these errors do: [N, C, H, W] with Any as "*".
func ShapeString(shape []int) string {
	parts := make([]string, len(shape))
	for i, n := range shape {
		if n == Any {
			parts[i] = "*"
		} else {
			parts[i] = strconv.Itoa(n)
		}
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// ShapeError is a file that holds another array than the one wanted.
type ShapeError struct {
	File   string // the file (and member, for an .npz: FILE:NAME)
	Holds  string // what it holds, e.g. "float64 [4, 3, 8, 8] (C order)"
	Wanted string // what was wanted, e.g. "float32 [4, 3, 8, 8]"
}

func (e *ShapeError) Error() string {
	return fmt.Sprintf("%s holds %s, want %s", e.File, e.Holds, e.Wanted)
}

// check compares a header with the element type T and the wanted shape (nil: any).
func check[T Elem](file string, h npy.Header, want []int) error {
	descr, name := dtype[T]()
	order := "C order"
	if h.Descr.Fortran {
		order = "Fortran order"
	}
	typ := strings.Trim(h.Descr.Type, `'"`) // the header's Python literal
	holds := fmt.Sprintf("%s %s (%s)", dtypeName(typ), ShapeString(h.Descr.Shape), order)
	wanted := name + " " + ShapeString(want) + " (C order)"
	if want == nil {
		wanted = name + " of any shape (C order)"
	}
	ok := typ == descr && !h.Descr.Fortran
	if want != nil {
		ok = ok && len(h.Descr.Shape) == len(want)
		for i := 0; ok && i < len(want); i++ {
			ok = want[i] == Any || want[i] == h.Descr.Shape[i]
		}
	}
	if !ok {
		return &ShapeError{File: file, Holds: holds, Wanted: wanted}
	}
	return nil
}

// numElems is the number of elements of shape, or an error where it overflows.
func numElems(shape []int) (int, error) {
	n := 1
	for _, d := range shape {
		if d < 0 || d > 0 && n > math.MaxInt/d {
			return 0, fmt.Errorf("shape %s is not a valid array shape", ShapeString(shape))
		}
		n *= d
	}
	return n, nil
}

// readArray reads the array after header h from r into a new slice.
func readArray[T Elem](file string, h npy.Header, r *npy.Reader) ([]T, error) {
	n, err := numElems(h.Descr.Shape)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	var data []T
	if err := r.Read(&data); err != nil {
		return nil, fmt.Errorf("%s: reading %s: %w", file, ShapeString(h.Descr.Shape), err)
	}
	if len(data) != n {
		return nil, fmt.Errorf("%s: %d values for shape %s (file cut short?)", file, len(data), ShapeString(h.Descr.Shape))
	}
	return data, nil
}

// ReadNPY reads the .npy file at path, which must hold a C-order array of T whose shape is
// want (a length Any matches any length; want nil matches any shape). It returns the values
// in C order and the shape the file holds; a file that holds anything else is refused with a
// *ShapeError naming it, what it holds and what was wanted.
func ReadNPY[T Elem](path string, want ...int) ([]T, []int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	r, err := npy.NewReader(bufio.NewReader(f))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: not a NumPy .npy file: %w", path, err)
	}
	if err := check[T](path, r.Header, want); err != nil {
		return nil, nil, err
	}
	data, err := readArray[T](path, r.Header, r)
	return data, slices.Clone(r.Header.Descr.Shape), err
}

// NPZ is an open .npz archive.
type NPZ struct {
	path string
	r    *npz.Reader
}

// OpenNPZ opens the .npz archive at path for reading; Close it.
func OpenNPZ(path string) (*NPZ, error) {
	r, err := npz.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: not a NumPy .npz archive: %w", path, err)
	}
	return &NPZ{path: path, r: r}, nil
}

// NPZFromBytes reads an .npz archive already in memory (an artifact read through the
// results store's confined reading); name stands for its path in errors. Close it.
func NPZFromBytes(name string, b []byte) (*NPZ, error) {
	r, err := npz.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil, fmt.Errorf("%s: not a NumPy .npz archive: %w", name, err)
	}
	return &NPZ{path: name, r: r}, nil
}

// Close closes the archive.
func (z *NPZ) Close() error { return z.r.Close() }

// Names lists the arrays in the archive as numpy.load names them (without ".npy").
func (z *NPZ) Names() []string {
	var names []string
	for _, k := range z.r.Keys() {
		names = append(names, strings.TrimSuffix(k, ".npy"))
	}
	return names
}

// member is the zip member that numpy.load would read for the array name.
func (z *NPZ) member(name string) (string, error) {
	keys := z.r.Keys()
	for _, k := range []string{name + ".npy", name} {
		if slices.Contains(keys, k) {
			return k, nil
		}
	}
	return "", fmt.Errorf("%s has no array %q (it holds %s)", z.path, name, strings.Join(z.Names(), ", "))
}

// ReadNPZ reads the array name of an open archive, checked as ReadNPY checks a file.
func ReadNPZ[T Elem](z *NPZ, name string, want ...int) ([]T, []int, error) {
	member, err := z.member(name)
	if err != nil {
		return nil, nil, err
	}
	file := z.path + ":" + name
	rc, err := z.r.Open(member)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", file, err)
	}
	defer rc.Close()
	r, err := npy.NewReader(bufio.NewReader(rc))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: not a NumPy array: %w", file, err)
	}
	if err := check[T](file, r.Header, want); err != nil {
		return nil, nil, err
	}
	data, err := readArray[T](file, r.Header, r)
	return data, slices.Clone(r.Header.Descr.Shape), err
}

// Array is one named array to write into an .npz: Data is a []uint8, []float32 or []float64
// in C order and Shape its shape.
type Array struct {
	Name  string
	Shape []int
	Data  any
}

// Of makes the Array name of data with the given shape.
func Of[T Elem](name string, data []T, shape ...int) Array {
	return Array{Name: name, Shape: shape, Data: data}
}

// writeNPY writes a in numpy.save's format (version 1.0) to w.
func writeNPY(w io.Writer, a Array) error {
	n, err := numElems(a.Shape)
	if err != nil {
		return err
	}
	var descr string
	var length int
	switch d := a.Data.(type) {
	case []uint8:
		descr, length = "|u1", len(d)
	case []float32:
		descr, length = "<f4", len(d)
	case []float64:
		descr, length = "<f8", len(d)
	default:
		return fmt.Errorf("array %q: cannot write %T (want []uint8, []float32 or []float64)", a.Name, a.Data)
	}
	if length != n {
		return fmt.Errorf("array %q: %d values for shape %s", a.Name, length, ShapeString(a.Shape))
	}
	// NumPy writes a tuple: "()" for a scalar, "(5,)" for one axis, "(2, 3)" for more.
	dims := make([]string, len(a.Shape))
	for i, d := range a.Shape {
		dims[i] = strconv.Itoa(d)
	}
	shape := "(" + strings.Join(dims, ", ") + ")"
	if len(a.Shape) == 1 {
		shape = "(" + dims[0] + ",)"
	}
	header := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape)
	// Magic (6), version (2) and length (2) precede the header, which ends in a newline and is
	// padded with spaces so the data starts on a 64-byte boundary, as numpy aligns it.
	pad := 63 - (10+len(header))%64
	header += strings.Repeat(" ", pad) + "\n"
	if len(header) > math.MaxUint16 {
		return fmt.Errorf("array %q: shape %s too long for a .npy header", a.Name, ShapeString(a.Shape))
	}
	bw := bufio.NewWriterSize(w, 1<<16)
	bw.Write(npy.Magic[:])
	bw.Write([]byte{1, 0})
	binary.Write(bw, binary.LittleEndian, uint16(len(header)))
	bw.WriteString(header)
	switch d := a.Data.(type) {
	case []uint8:
		bw.Write(d)
	case []float32:
		var b [4]byte
		for _, v := range d {
			binary.LittleEndian.PutUint32(b[:], math.Float32bits(v))
			bw.Write(b[:])
		}
	case []float64:
		var b [8]byte
		for _, v := range d {
			binary.LittleEndian.PutUint64(b[:], math.Float64bits(v))
			bw.Write(b[:])
		}
	}
	return bw.Flush()
}

// WriteNPY writes data with the given shape to path as numpy.save would, replacing path
// atomically.
func WriteNPY[T Elem](path string, data []T, shape ...int) error {
	return writeAtomic(path, func(w io.Writer) error {
		return writeNPY(w, Of("", data, shape...))
	})
}

// WriteNPZ writes the arrays to path as numpy.savez would (an uncompressed zip with one
// NAME.npy member each, in the order given), replacing path atomically.
func WriteNPZ(path string, arrays ...Array) error {
	return writeAtomic(path, func(w io.Writer) error {
		zw := zip.NewWriter(w)
		for _, a := range arrays {
			if a.Name == "" || strings.ContainsAny(a.Name, "/\\") {
				return fmt.Errorf("array name %q: want a plain name such as arr_0", a.Name)
			}
			mw, err := zw.CreateHeader(&zip.FileHeader{Name: a.Name + ".npy", Method: zip.Store})
			if err != nil {
				return err
			}
			if err := writeNPY(mw, a); err != nil {
				return err
			}
		}
		return zw.Close()
	})
}

// writeAtomic replaces path with what write writes, or leaves it as it was.
func writeAtomic(path string, write func(io.Writer) error) error {
	f, err := atomicfile.Create(path)
	if err != nil {
		return err
	}
	defer f.Abort()
	if err := write(f); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Commit(0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// SamplesName is the array that improved-diffusion's image_sample.py writes its samples as
// (numpy.savez's name for its first positional array), and that FID tools read.
const SamplesName = "arr_0"

// WriteSamples writes images, uint8 in [N, H, W, C] order, to path as improved-diffusion's
// image_sample.py does: an .npz whose arr_0 is the array.
func WriteSamples(path string, images []uint8, n, h, w, c int) error {
	return WriteNPZ(path, Of(SamplesName, images, n, h, w, c))
}

// ReadSamples reads the arr_0 of an .npz written by WriteSamples or image_sample.py: uint8
// images in [N, H, W, C] order, and that shape.
func ReadSamples(path string) ([]uint8, []int, error) {
	z, err := OpenNPZ(path)
	if err != nil {
		return nil, nil, err
	}
	defer z.Close()
	return ReadNPZ[uint8](z, SamplesName, Any, Any, Any, Any)
}

// ReadSamplesFrom is ReadSamples of an archive already open.
func ReadSamplesFrom(z *NPZ) ([]uint8, []int, error) {
	return ReadNPZ[uint8](z, SamplesName, Any, Any, Any, Any)
}

// FIDStats are the statistics of a set's features that pytorch-fid keeps in an .npz: their
// mean Mu (D values) and covariance Sigma (D x D, row-major).
type FIDStats struct {
	Mu    []float64
	Sigma []float64
}

// Dim is D, the number of features.
func (s FIDStats) Dim() int { return len(s.Mu) }

// WriteFIDStats writes s to path as pytorch-fid's save_fid_stats does (numpy.savez with mu
// and sigma), replacing path atomically.
func WriteFIDStats(path string, s FIDStats) error {
	d := s.Dim()
	if len(s.Sigma) != d*d {
		return fmt.Errorf("writing %s: sigma has %d values, want %d x %d for %d means", path, len(s.Sigma), d, d, d)
	}
	return WriteNPZ(path, Of("mu", s.Mu, d), Of("sigma", s.Sigma, d, d))
}

// ReadFIDStats reads pytorch-fid statistics from the .npz at path: mu [D] and sigma [D, D],
// float64 as pytorch-fid writes them or float32 as TensorFlow's FID code (TTUR) did.
func ReadFIDStats(path string) (FIDStats, error) { return ReadFIDStatsOf(path, "mu", "sigma") }

// ReadFIDStatsOf reads statistics stored under other names (guided-diffusion's reference
// batches keep the spatial features' as mu_s and sigma_s).
func ReadFIDStatsOf(path, muName, sigmaName string) (FIDStats, error) {
	z, err := OpenNPZ(path)
	if err != nil {
		return FIDStats{}, err
	}
	defer z.Close()
	mu, shape, err := ReadFloats(z, muName, Any)
	if err != nil {
		return FIDStats{}, err
	}
	d := shape[0]
	sigma, _, err := ReadFloats(z, sigmaName, d, d)
	if err != nil {
		var se *ShapeError
		if errors.As(err, &se) {
			se.Wanted += fmt.Sprintf(" (%s has %d values)", muName, d)
		}
		return FIDStats{}, err
	}
	return FIDStats{Mu: mu, Sigma: sigma}, nil
}

// ReadFloats reads the array name of an open archive as float64: float64 values as they are,
// float32 widened exactly.
func ReadFloats(z *NPZ, name string, want ...int) ([]float64, []int, error) {
	v, shape, err := ReadNPZ[float64](z, name, want...)
	var se *ShapeError
	if err == nil || !errors.As(err, &se) {
		return v, shape, err
	}
	v32, shape, err32 := ReadNPZ[float32](z, name, want...)
	if err32 != nil {
		se.Wanted = strings.Replace(se.Wanted, "float64", "float64 or float32", 1)
		return nil, nil, err
	}
	v = make([]float64, len(v32))
	for i, x := range v32 {
		v[i] = float64(x)
	}
	return v, shape, nil
}

// SamplePixels converts samples in [-1, 1] to bytes exactly as improved-diffusion's
// image_sample.py does, ((x + 1) * 127.5).clamp(0, 255).to(uint8): in float32, clamped, then
// truncated toward zero (as PyTorch converts a float to uint8), so 0.999 of a level is 0.
// NaN becomes 0, as PyTorch converts it on the CPU. These are the numbers samples.npz holds
// and FID tools read.
func SamplePixels(samples []float32) []uint8 {
	out := make([]uint8, len(samples))
	for i, x := range samples {
		out[i] = SamplePixel(x)
	}
	return out
}

// SamplePixel is one value of SamplePixels.
func SamplePixel(x float32) uint8 {
	v := (x + 1) * 127.5
	switch {
	case !(v > 0): // NaN too
		return 0
	case v >= 255:
		return 255
	}
	return uint8(v)
}

// DataPixel is the 8-bit value an example of 8-bit data in [-1, 1] came from: (x + 1) * 127.5
// rounded to nearest, which undoes the scaling exactly where truncation (SamplePixel) could
// land one level low.
func DataPixel(x float32) uint8 {
	v := math.Round(float64(x+1) * 127.5)
	switch {
	case !(v > 0):
		return 0
	case v >= 255:
		return 255
	}
	return uint8(v)
}
