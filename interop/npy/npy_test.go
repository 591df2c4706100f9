package npy

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func noiseValues() []float32 {
	v := make([]float32, 2*3*4*5)
	for i := range v {
		v[i] = float32(float64(i)/8 - 3)
	}
	return v
}

func sampleValues() []uint8 {
	v := make([]uint8, 2*4*5*3)
	for i := range v {
		v[i] = uint8(7 * i % 256)
	}
	return v
}

func fidValues(d int) FIDStats {
	s := FIDStats{Mu: make([]float64, d), Sigma: make([]float64, d*d)}
	for i := range d {
		s.Mu[i] = float64(i) / 4
		for j := range d {
			s.Sigma[i*d+j] = 1 / (1 + float64(i) + float64(j))
		}
	}
	return s
}

// TestReadsWhatNumpyWrites: the files testdata/gen_numpy.py wrote with numpy.save, numpy.savez
// (image_sample.py's samples) and numpy.savez_compressed (pytorch-fid's statistics) read back
// as the values the script computed.
func TestReadsWhatNumpyWrites(t *testing.T) {
	noise, shape, err := ReadNPY[float32]("testdata/noise_2x3x4x5.npy", 2, 3, 4, 5)
	if err != nil || !slices.Equal(shape, []int{2, 3, 4, 5}) || !slices.Equal(noise, noiseValues()) {
		t.Fatalf("noise: %v %v %v", shape, err, noise)
	}
	// Any matches every length; no shape matches every shape.
	if _, shape, err := ReadNPY[float32]("testdata/noise_2x3x4x5.npy", Any, 3, Any, Any); err != nil || shape[0] != 2 {
		t.Errorf("wildcards: %v %v", shape, err)
	}
	if _, shape, err := ReadNPY[float32]("testdata/noise_2x3x4x5.npy"); err != nil || len(shape) != 4 {
		t.Errorf("any shape: %v %v", shape, err)
	}
	images, shape, err := ReadSamples("testdata/samples_2x4x5x3.npz")
	if err != nil || !slices.Equal(shape, []int{2, 4, 5, 3}) || !slices.Equal(images, sampleValues()) {
		t.Errorf("samples: %v %v", shape, err)
	}
	stats, err := ReadFIDStats("testdata/fid_stats_6.npz")
	want := fidValues(6)
	if err != nil || !slices.Equal(stats.Mu, want.Mu) || !slices.Equal(stats.Sigma, want.Sigma) {
		t.Errorf("fid stats: %v %v", stats, err)
	}
}

// TestRefusesOtherArrays: a file of another dtype, order or shape is refused with an error
// naming the file, what it holds and what was wanted.
func TestRefusesOtherArrays(t *testing.T) {
	for _, c := range []struct {
		file  string
		want  []int
		holds string
		asked string
	}{
		{"testdata/noise_float64.npy", []int{2, 3, 4, 5}, "float64 [2, 3, 4, 5] (C order)", "float32 [2, 3, 4, 5] (C order)"},
		{"testdata/noise_fortran.npy", []int{2, 3, 4, 5}, "float32 [2, 3, 4, 5] (Fortran order)", "float32 [2, 3, 4, 5] (C order)"},
		{"testdata/noise_2x3x4x5.npy", []int{4, 3, 4, 5}, "float32 [2, 3, 4, 5] (C order)", "float32 [4, 3, 4, 5] (C order)"},
		{"testdata/noise_2x3x4x5.npy", []int{2, 3, 20}, "float32 [2, 3, 4, 5] (C order)", "float32 [2, 3, 20] (C order)"},
		{"testdata/noise_2x3x4x5.npy", []int{Any, 1, 4, 5}, "float32 [2, 3, 4, 5] (C order)", "float32 [*, 1, 4, 5] (C order)"},
	} {
		_, _, err := ReadNPY[float32](c.file, c.want...)
		var se *ShapeError
		if !errors.As(err, &se) || se.File != c.file || se.Holds != c.holds || se.Wanted != c.asked {
			t.Errorf("%s as %v: %v", c.file, c.want, err)
		} else if msg := err.Error(); !strings.Contains(msg, c.file) || !strings.Contains(msg, c.holds) {
			t.Errorf("message %q", msg)
		}
	}
	// The samples' uint8 read as float32, a missing member, something that is not NumPy's.
	z, err := OpenNPZ("testdata/samples_2x4x5x3.npz")
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	if _, _, err := ReadNPZ[float32](z, "arr_0"); err == nil || !strings.Contains(err.Error(), "samples_2x4x5x3.npz:arr_0 holds uint8 [2, 4, 5, 3]") {
		t.Errorf("uint8 as float32: %v", err)
	}
	if _, _, err := ReadNPZ[uint8](z, "mu"); err == nil || !strings.Contains(err.Error(), `no array "mu" (it holds arr_0)`) {
		t.Errorf("missing member: %v", err)
	}
	if _, err := ReadFIDStats("testdata/samples_2x4x5x3.npz"); err == nil || !strings.Contains(err.Error(), `no array "mu"`) {
		t.Errorf("samples as fid stats: %v", err)
	}
	if _, _, err := ReadNPY[float32]("testdata/gen_numpy.py"); err == nil || !strings.Contains(err.Error(), "gen_numpy.py: not a NumPy .npy file") {
		t.Errorf("a script as .npy: %v", err)
	}
	if _, err := OpenNPZ("testdata/noise_2x3x4x5.npy"); err == nil || !strings.Contains(err.Error(), "not a NumPy .npz archive") {
		t.Errorf("an .npy as .npz: %v", err)
	}
}

// TestRoundTrips: what this package writes, npyio reads back as the same values and shapes,
// for every element type, scalar to four axes; files are written as numpy writes them (a
// version 1.0 header that starts the data on a 64-byte boundary, NAME.npy members stored).
func TestRoundTrips(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x.npy")
	if err := WriteNPY(p, noiseValues(), 2, 3, 4, 5); err != nil {
		t.Fatal(err)
	}
	got, shape, err := ReadNPY[float32](p, 2, 3, 4, 5)
	if err != nil || !slices.Equal(got, noiseValues()) || !slices.Equal(shape, []int{2, 3, 4, 5}) {
		t.Errorf("float32: %v %v", shape, err)
	}
	raw, _ := os.ReadFile(p)
	if raw[6] != 1 || raw[7] != 0 || (10+int(raw[8])+int(raw[9])<<8)%64 != 0 || len(raw) != 128+4*120 {
		t.Errorf("header: version %d.%d, %d header bytes, file %d bytes", raw[6], raw[7], int(raw[8])+int(raw[9])<<8, len(raw))
	}
	// numpy.save's own bytes for the same array, header and all.
	numpy, _ := os.ReadFile("testdata/noise_2x3x4x5.npy")
	if got, want := string(raw[:10]), string(numpy[:10]); got != want {
		t.Errorf("preamble %q, numpy writes %q", got, want)
	}
	if string(raw[128:]) != string(numpy[128:]) {
		t.Error("data differs from numpy.save's")
	}

	for _, shape := range [][]int{{}, {1}, {5}, {3, 0}, {2, 2, 1, 3}} {
		n := 1
		for _, d := range shape {
			n *= d
		}
		f64 := make([]float64, n)
		u8 := make([]uint8, n)
		for i := range n {
			f64[i], u8[i] = -1.5*float64(i)+1e-300, uint8(250+i)
		}
		p := filepath.Join(dir, "a.npz")
		if err := WriteNPZ(p, Of("a", f64, shape...), Of("b", u8, shape...)); err != nil {
			t.Fatal(err)
		}
		z, err := OpenNPZ(p)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(z.Names(), []string{"a", "b"}) {
			t.Errorf("names %v", z.Names())
		}
		gf, sf, err1 := ReadNPZ[float64](z, "a", shape...)
		gu, su, err2 := ReadNPZ[uint8](z, "b", shape...)
		z.Close()
		if err1 != nil || err2 != nil || !slices.Equal(gf, f64) || !slices.Equal(gu, u8) ||
			!slices.Equal(sf, shape) || !slices.Equal(su, shape) {
			t.Errorf("shape %v: %v %v %v %v %v", shape, sf, su, err1, err2, gf)
		}
	}

	p = filepath.Join(dir, "samples.npz")
	if err := WriteSamples(p, sampleValues(), 2, 4, 5, 3); err != nil {
		t.Fatal(err)
	}
	images, shape, err := ReadSamples(p)
	if err != nil || !slices.Equal(images, sampleValues()) || !slices.Equal(shape, []int{2, 4, 5, 3}) {
		t.Errorf("samples: %v %v", shape, err)
	}
	p = filepath.Join(dir, "stats.npz")
	if err := WriteFIDStats(p, fidValues(6)); err != nil {
		t.Fatal(err)
	}
	stats, err := ReadFIDStats(p)
	if want := fidValues(6); err != nil || !slices.Equal(stats.Mu, want.Mu) || !slices.Equal(stats.Sigma, want.Sigma) || stats.Dim() != 6 {
		t.Errorf("fid stats: %v %v", stats, err)
	}
}

// TestBadWritesLeaveNothing: values that do not fill the shape, a sigma of the wrong size and
// a bad member name are refused, and the file there before is left as it was.
func TestBadWritesLeaveNothing(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "s.npz")
	if err := os.WriteFile(p, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"short":     WriteSamples(p, make([]uint8, 10), 2, 4, 5, 3),
		"sigma":     WriteFIDStats(p, FIDStats{Mu: make([]float64, 3), Sigma: make([]float64, 6)}),
		"name":      WriteNPZ(p, Of("a/b", []uint8{1})),
		"data type": WriteNPZ(p, Array{Name: "a", Shape: []int{1}, Data: []int{1}}),
	} {
		if err == nil || !strings.Contains(err.Error(), p) && name != "name" && name != "data type" {
			t.Errorf("%s: %v", name, err)
		}
	}
	if b, _ := os.ReadFile(p); string(b) != "old" {
		t.Errorf("file now %q", b)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("%d files left in the folder, want the old one only", len(entries))
	}
}
