package npy

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"os"
	"slices"
	"strings"
	"testing"
)

// npzOf is a zip archive holding one member, arr_0.npy, of the given bytes.
func npzOf(t *testing.T, member []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	w, err := zw.CreateHeader(&zip.FileHeader{Name: "arr_0.npy", Method: zip.Store})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(member)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// npyHeader is a version 1.0 .npy header of the given dictionary text, padded as numpy pads it.
func npyHeader(dict string) []byte {
	text := dict + strings.Repeat(" ", 63-(10+len(dict))%64) + "\n"
	var b bytes.Buffer
	b.WriteString("\x93NUMPY\x01\x00")
	binary.Write(&b, binary.LittleEndian, uint16(len(text)))
	b.WriteString(text)
	return b.Bytes()
}

// TestReadSamplesHeadReadsOnlyTheFirstImages: the first images of what numpy.savez wrote, and
// the shape of the whole array.
func TestReadSamplesHeadReadsOnlyTheFirstImages(t *testing.T) {
	f, err := os.Open("testdata/samples_2x4x5x3.npz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	for _, max := range []int{100, 2, 1, 0} {
		images, shape, err := ReadSamplesHead(f, st.Size(), "samples.npz", max, 1<<20)
		n := min(max, 2) * 4 * 5 * 3
		if err != nil || !slices.Equal(shape, []int{2, 4, 5, 3}) || !slices.Equal(images, sampleValues()[:n]) {
			t.Errorf("max %d: %v %v, %d values", max, shape, err, len(images))
		}
	}
}

// TestReadSamplesHeadRefusesHostileFiles: a file that is not what numpy.savez writes, or says
// it holds more than allowed, is an error naming why, and nothing large is allocated for it.
func TestReadSamplesHeadRefusesHostileFiles(t *testing.T) {
	good, err := os.ReadFile("testdata/samples_2x4x5x3.npz")
	if err != nil {
		t.Fatal(err)
	}
	hugeHeader := []byte("\x93NUMPY\x02\x00\xff\xff\xff\xff")
	bigDir := func() []byte {
		var b bytes.Buffer
		zw := zip.NewWriter(&b)
		for i := range 40000 {
			zw.CreateHeader(&zip.FileHeader{Name: strings.Repeat("x", 20) + string(rune('a'+i%26)) + strings.Repeat("y", i%7), Method: zip.Store})
		}
		zw.Close()
		return b.Bytes()
	}()
	for _, c := range []struct {
		name string
		file []byte
		why  string
	}{
		{"empty", nil, "not a NumPy .npz archive"},
		{"text", []byte("hello, this is not a zip archive at all"), "no zip directory"},
		{"cut short", good[:len(good)-30], "not a NumPy .npz archive"},
		{"no arr_0", func() []byte {
			var b bytes.Buffer
			zw := zip.NewWriter(&b)
			zw.Create("mu.npy")
			zw.Close()
			return b.Bytes()
		}(), `no array "arr_0"`},
		{"not an npy member", npzOf(t, []byte("PNG? no")), "not a NumPy array"},
		{"header length of 4 GB", npzOf(t, hugeHeader), "more than the 65536 allowed"},
		{"header without a newline", npzOf(t, append([]byte("\x93NUMPY\x01\x00\x04\x00"), "{}  "...)), "newline"},
		{"garbage header", npzOf(t, npyHeader("{'descr': ")), "not a NumPy array"},
		{"float32 samples", npzOf(t, npyHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 2, 3), }")), "holds float32"},
		{"three dimensions", npzOf(t, npyHeader("{'descr': '|u1', 'fortran_order': False, 'shape': (1, 2, 2), }")), "want uint8 [*, *, *, *]"},
		{"huge images", npzOf(t, npyHeader("{'descr': '|u1', 'fortran_order': False, 'shape': (1, 100000, 100000, 3), }")), "more than the 1048576 bytes allowed"},
		{"overflowing shape", npzOf(t, npyHeader("{'descr': '|u1', 'fortran_order': False, 'shape': (4611686018427387904, 4611686018427387904, 2, 3), }")), "not a valid array shape"},
		{"values cut short", npzOf(t, append(npyHeader("{'descr': '|u1', 'fortran_order': False, 'shape': (2, 2, 2, 3), }"), 1, 2, 3)), "file cut short"},
		{"a directory of 40000 entries", bigDir, "zip directory of"},
	} {
		images, _, err := ReadSamplesHead(bytes.NewReader(c.file), int64(len(c.file)), "x.npz", 100, 1<<20)
		if err == nil || !strings.Contains(err.Error(), c.why) || images != nil {
			t.Errorf("%s: %v, want an error saying %q", c.name, err, c.why)
		}
	}
}
