package interop

import (
	"bytes"
	"strings"
	"testing"

	"github.com/nlpodyssey/gopickle/types"
)

// TestUnpickleNumPyArray reads an array pickled by NumPy 1.24 at protocol 2 (Python 3):
// np.arange(6, dtype=np.uint8).reshape(2, 3), bytes as _codecs.encode.
func TestUnpickleNumPyArray(t *testing.T) {
	// pickle.dumps(np.arange(6, dtype=np.uint8).reshape(2, 3), protocol=2)
	const p = "\x80\x02cnumpy.core.multiarray\n_reconstruct\nq\x00cnumpy\nndarray\nq\x01K\x00\x85q\x02c_codecs\nencode\nq\x03X\x01\x00\x00\x00bq\x04X\x06\x00\x00\x00latin1q\x05\x86q\x06Rq\x07\x87q\x08Rq\t(K\x01K\x02K\x03\x86q\ncnumpy\ndtype\nq\x0bX\x02\x00\x00\x00u1q\x0c\x89\x88\x87q\rRq\x0e(K\x03X\x01\x00\x00\x00|q\x0fNNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tq\x10b\x89h\x03X\x06\x00\x00\x00\x00\x01\x02\x03\x04\x05q\x11h\x05\x86q\x12Rq\x13tq\x14b."
	v, err := UnpickleNumPy(strings.NewReader(p))
	if err != nil {
		t.Fatal(err)
	}
	a, ok := v.(*Array)
	if !ok {
		t.Fatalf("got %T", v)
	}
	if a.DType != "u1" || a.ByteOrder != "|" || a.Fortran || len(a.Shape) != 2 || a.Shape[0] != 2 || a.Shape[1] != 3 ||
		!bytes.Equal(a.Data, []byte{0, 1, 2, 3, 4, 5}) {
		t.Errorf("got %+v", a)
	}
}

// TestUnpickleNumPyRefusesOtherClasses: a pickle may name any callable; only NumPy's array
// parts are given to the unpickler.
func TestUnpickleNumPyRefusesOtherClasses(t *testing.T) {
	_, err := UnpickleNumPy(strings.NewReader("\x80\x02cos\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85q\x02Rq\x03."))
	if err == nil || !strings.Contains(err.Error(), "os.system") {
		t.Fatalf("error %v, want a refusal naming os.system", err)
	}
	v, err := UnpickleNumPy(strings.NewReader("\x80\x02}q\x00U\x04dataq\x01K\x07s."))
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := v.(*types.Dict); !ok || d.Len() != 1 {
		t.Fatalf("got %#v", v)
	}
}
