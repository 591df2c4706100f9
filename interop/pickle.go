// Package interop reads the formats of other tools. Here: NumPy arrays inside Python pickles
// (CIFAR-10's python batches).
package interop

import (
	"fmt"
	"io"
	"math/big"

	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/types"
)

// Array is a NumPy array rebuilt from a pickle: its shape, its dtype as NumPy writes it
// ("u1", with the byte order '|', '<' or '>' of the dtype's state in ByteOrder), whether it is
// stored in Fortran order, and its raw bytes.
type Array struct {
	Shape     []int
	DType     string
	ByteOrder string
	Fortran   bool
	Data      []byte
}

// DType is a NumPy dtype rebuilt from a pickle (numpy.dtype(name, align, copy) and its state).
type DType struct {
	Name      string
	ByteOrder string
}

// UnpickleNumPy unpickles a Python pickle whose values may be NumPy arrays, as
// pickle.dump writes them (CIFAR-10's python batches were written by Python 2's cPickle,
// protocol 2). gopickle reads the pickle but knows no NumPy: a NumPy array is pickled as a
// call of numpy.core.multiarray._reconstruct followed by a BUILD with the array's state
// (version, shape, dtype, Fortran order, raw bytes), and its dtype as a call of numpy.dtype
// with a state of its own, so those classes are given to gopickle here and an array comes out
// as *Array. Python 2 strings come out as Go strings holding their bytes, Python 3 bytes as
// []byte, and bytes that Python 3 pickled at protocol 2 (_codecs.encode(s, "latin1")) as
// []byte too. Any other class is refused: a pickle can name any callable, and nothing here
// runs one.
func UnpickleNumPy(r io.Reader) (any, error) {
	u := pickle.NewUnpickler(r)
	u.FindClass = func(module, name string) (any, error) {
		switch module + "." + name {
		case "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct":
			return reconstruct{}, nil
		case "numpy.ndarray":
			return ndarrayClass{}, nil
		case "numpy.dtype":
			return dtypeClass{}, nil
		case "_codecs.encode":
			return codecsEncode{}, nil
		}
		return nil, fmt.Errorf("pickle names %s.%s, which is not a NumPy array's part (refused)", module, name)
	}
	return u.Load()
}

type ndarrayClass struct{}

// reconstruct is numpy.core.multiarray._reconstruct(ndarray, (0,), b'b'): an empty array that
// the BUILD after it fills.
type reconstruct struct{}

func (reconstruct) Call(args ...any) (any, error) {
	if len(args) < 1 {
		return nil, fmt.Errorf("numpy _reconstruct: no class")
	}
	if _, ok := args[0].(ndarrayClass); !ok {
		return nil, fmt.Errorf("numpy _reconstruct of %T, not numpy.ndarray", args[0])
	}
	return &Array{}, nil
}

// PySetState reads an array's state: (version, shape, dtype, is_fortran, raw bytes), or the
// same without the version (NumPy before 1.0).
func (a *Array) PySetState(state any) error {
	t, ok := state.(*types.Tuple)
	if !ok || (t.Len() != 5 && t.Len() != 4) {
		return fmt.Errorf("numpy array state: want a tuple of 4 or 5, got %T", state)
	}
	s := *t
	if len(s) == 5 {
		s = s[1:]
	}
	shape, ok := s[0].(*types.Tuple)
	if !ok {
		return fmt.Errorf("numpy array state: shape is %T, not a tuple", s[0])
	}
	a.Shape = a.Shape[:0]
	for _, v := range *shape {
		n, err := toInt(v)
		if err != nil || n < 0 {
			return fmt.Errorf("numpy array state: shape %v", *shape)
		}
		a.Shape = append(a.Shape, n)
	}
	dt, ok := s[1].(*DType)
	if !ok {
		return fmt.Errorf("numpy array state: dtype is %T", s[1])
	}
	a.DType, a.ByteOrder = dt.Name, dt.ByteOrder
	a.Fortran = truthy(s[2])
	data, err := Bytes(s[3])
	if err != nil {
		return fmt.Errorf("numpy array state: data: %w (an array of Python objects is not read)", err)
	}
	a.Data = data
	return nil
}

type dtypeClass struct{}

// Call is numpy.dtype(name, align, copy).
func (dtypeClass) Call(args ...any) (any, error) {
	if len(args) < 1 {
		return nil, fmt.Errorf("numpy dtype: no name")
	}
	name, err := Str(args[0])
	if err != nil {
		return nil, fmt.Errorf("numpy dtype: name: %w", err)
	}
	return &DType{Name: name}, nil
}

// PySetState reads a dtype's state (version, byte order, subarray, names, fields, elsize,
// alignment, flags); only the byte order matters for the plain dtypes read here.
func (d *DType) PySetState(state any) error {
	t, ok := state.(*types.Tuple)
	if !ok || t.Len() < 2 {
		return fmt.Errorf("numpy dtype state: want a tuple, got %T", state)
	}
	order, err := Str(t.Get(1))
	if err != nil {
		return fmt.Errorf("numpy dtype state: byte order: %w", err)
	}
	d.ByteOrder = order
	return nil
}

// codecsEncode is _codecs.encode(s, "latin1"): how Python 3 pickles bytes at protocol 2.
type codecsEncode struct{}

func (codecsEncode) Call(args ...any) (any, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("_codecs.encode: no argument")
	}
	s, ok := args[0].(string)
	if !ok {
		return nil, fmt.Errorf("_codecs.encode of %T", args[0])
	}
	if len(args) > 1 {
		if enc, _ := args[1].(string); enc != "latin1" && enc != "latin-1" && enc != "iso-8859-1" {
			return nil, fmt.Errorf("_codecs.encode with encoding %q (only latin1 is read)", enc)
		}
	}
	out := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 0xff {
			return nil, fmt.Errorf("_codecs.encode: %q is not latin1", r)
		}
		out = append(out, byte(r))
	}
	return out, nil
}

// Bytes is the content of a pickled Python 2 string or Python 3 bytes.
func Bytes(v any) ([]byte, error) {
	switch x := v.(type) {
	case string:
		return []byte(x), nil
	case []byte:
		return x, nil
	}
	return nil, fmt.Errorf("want bytes, got %T", v)
}

// Str is a pickled string (Python 2 str, Python 3 str or bytes) as a Go string: what keys
// and names are, whichever Python wrote them.
func Str(v any) (string, error) {
	b, err := Bytes(v)
	return string(b), err
}

// Int is a pickled Python int.
func Int(v any) (int, error) { return toInt(v) }

func toInt(v any) (int, error) {
	switch x := v.(type) {
	case int:
		return x, nil
	case int64:
		return int(x), nil
	case bool:
		if x {
			return 1, nil
		}
		return 0, nil
	case *big.Int:
		if x.IsInt64() {
			return int(x.Int64()), nil
		}
	}
	return 0, fmt.Errorf("want an int, got %T", v)
}

func truthy(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case int:
		return x != 0
	}
	return false
}
