package datasets

import (
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writePNG writes a w x h image whose left half is black and right half white.
func writePNG(t *testing.T, path string, w, h int) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			v := uint8(0)
			if x >= w/2 {
				v = 255
			}
			img.Set(x, y, color.RGBA{v, v / 2, 0, 255})
		}
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
}

func TestImagesFolder(t *testing.T) {
	dir := t.TempDir()
	for i := range 12 {
		// Wide images: the centre crop keeps the middle square.
		writePNG(t, filepath.Join(dir, "img"+string(rune('a'+i))+".png"), 40, 20)
	}
	im, err := LoadImages(dir, 8, "rgb")
	if err != nil {
		t.Fatal(err)
	}
	if len(im.train) != 11 || len(im.heldOut) != 1 || im.Dim() != 8*8*3 {
		t.Fatalf("%d train, %d held out, dim %d; want 11, 1, 192", len(im.train), len(im.heldOut), im.Dim())
	}
	x := im.HeldOut(1)
	// Left edge of the crop is black (-1), right edge white in red (1), green half (about 0).
	if x[0] != -1 || x[(8-1)*3] != 1 || x[(8-1)*3+1] < -0.05 || x[(8-1)*3+1] > 0.05 {
		t.Errorf("first row %v", x[:24])
	}
	gray, err := LoadImages(dir, 8, "gray")
	if err != nil || gray.Dim() != 64 {
		t.Fatalf("gray: %v dim %d", err, gray.Dim())
	}
	a := make([]float32, 3*64)
	b := make([]float32, 3*64)
	gray.Train(1, 5, 3, a)
	gray.Train(1, 5, 3, b)
	for i := range a {
		if a[i] != b[i] {
			t.Fatal("the same (seed, step) gave different batches")
		}
	}
}

func TestImagesFolderErrors(t *testing.T) {
	empty := t.TempDir()
	corrupt := t.TempDir()
	writePNG(t, filepath.Join(corrupt, "good.png"), 8, 8)
	if err := os.WriteFile(filepath.Join(corrupt, "bad.png"), []byte("not a png"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		dir, want string
	}{
		{filepath.Join(empty, "missing"), "missing"},
		{empty, "no .png, .jpg or .jpeg files"},
		{corrupt, "bad.png"},
	} {
		_, err := LoadImages(c.dir, 8, "gray")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one naming %q", c.dir, err, c.want)
		}
	}
}

func TestMNISTShufflingIsResumable(t *testing.T) {
	m, err := LoadMNIST("", []int{3, 7}, 14)
	if err != nil {
		t.Fatal(err)
	}
	if m.Dim() != 196 {
		t.Fatalf("dim %d", m.Dim())
	}
	for _, y := range m.trainY {
		if y != 3 && y != 7 {
			t.Fatalf("digit %d kept by the filter", y)
		}
	}
	// A batch depends only on (seed, step): recomputing step 123 alone gives the same images.
	a := make([]float32, 64*196)
	b := make([]float32, 64*196)
	m.Train(9, 122, 64, a)
	m.Train(9, 123, 64, b)
	c := make([]float32, 64*196)
	m.Train(9, 123, 64, c)
	same, differs := true, false
	for i := range b {
		same = same && b[i] == c[i]
		differs = differs || a[i] != b[i]
	}
	if !same || !differs {
		t.Errorf("step batches: recomputed equal %v, consecutive differ %v", same, differs)
	}
	for _, v := range b {
		// 8-bit grid: (v + 1) * 127.5 is an integer.
		if p := (v + 1) * 127.5; p != float32(int(p+0.5)) && (p-float32(int(p+0.5)) > 1e-3 || float32(int(p+0.5))-p > 1e-3) {
			t.Fatalf("value %v is not on the 8-bit grid", v)
		}
	}
}

// The MNIST folder is the spec's data.dir, else $DDPM_MNIST_DIR, else the module cache's.
func TestMNISTDirOrder(t *testing.T) {
	t.Setenv(MNISTDirEnv, "/from/env")
	if d, _ := MNISTDir("/given"); d != "/given" {
		t.Errorf("MNISTDir(/given) = %s", d)
	}
	if d, _ := MNISTDir(""); d != "/from/env" {
		t.Errorf("with $%s set, MNISTDir(\"\") = %s", MNISTDirEnv, d)
	}
	t.Setenv(MNISTDirEnv, "")
	if d, err := MNISTDir(""); err != nil || !strings.Contains(d, "mnist") && !strings.Contains(d, "!m!n!i!s!t") {
		t.Errorf("MNISTDir(\"\") = %s, %v; want the GoMNIST module's data folder", d, err)
	}
}
