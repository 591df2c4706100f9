package figures

import (
	"bytes"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

// TestGridOfBytesIsTheGridOfTheirValues: a samples.npz's bytes draw the same grid as the
// values in [-1, 1] they came from, each image in its cell, scaled up, on white.
func TestGridOfBytesIsTheGridOfTheirValues(t *testing.T) {
	const n, h, w, c = 3, 2, 2, 3
	pix := make([]uint8, n*h*w*c)
	x := make([]float32, len(pix))
	for i := range pix {
		pix[i] = uint8(i * 20)
		x[i] = float32(float64(pix[i])/127.5 - 1)
	}
	path := filepath.Join(t.TempDir(), "grid.png")
	if err := GridPNG(path, x, h, w, c, 2); err != nil {
		t.Fatal(err)
	}
	fromFloats, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var fromBytes bytes.Buffer
	if err := WriteGridPNG(&fromBytes, pix, h, w, c, 2); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fromFloats, fromBytes.Bytes()) {
		t.Error("the grid of the bytes differs from the grid of their values")
	}
	img, err := png.Decode(&fromBytes)
	if err != nil {
		t.Fatal(err)
	}
	scale := 56 / 2 // a 2 x 2 image is drawn 28 times larger
	if b := img.Bounds(); b.Dx() != 2*(2*scale+1)+1 || b.Dy() != 2*(2*scale+1)+1 {
		t.Errorf("a grid of 3 images in 2 columns is %v", b)
	}
	// Image 2 (the first of the second row), its pixel (1, 0): values 2*12+3.. of pix.
	got := color.RGBAModel.Convert(img.At(1+scale, 1+(2*scale+1))).(color.RGBA)
	want := color.RGBA{pix[2*12+3], pix[2*12+4], pix[2*12+5], 255}
	if got != want {
		t.Errorf("image 2, pixel (1, 0): %v, want %v", got, want)
	}
	if got := color.RGBAModel.Convert(img.At(0, 0)).(color.RGBA); got != (color.RGBA{255, 255, 255, 255}) {
		t.Errorf("the gap is %v, want white", got)
	}
	for _, bad := range [][4]int{{2, 2, 2, 2}, {0, 2, 3, 2}, {2, 2, 4, 2}, {2, 2, 3, 0}} {
		if err := WriteGridPNG(&bytes.Buffer{}, pix, bad[0], bad[1], bad[2], bad[3]); err == nil {
			t.Errorf("images of %v drawn", bad)
		}
	}
}
