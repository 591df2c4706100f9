package engine_test

import (
	"encoding/csv"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func readSamples(t *testing.T, path string) []float32 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var out []float32
	for _, row := range rows[1:] {
		for _, cell := range row {
			v, err := strconv.ParseFloat(cell, 32)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, float32(v))
		}
	}
	return out
}

// writeImages writes n small gradient PNGs of side size.
func writeImages(t *testing.T, dir string, n, size int) {
	t.Helper()
	for i := range n {
		img := image.NewGray(image.Rect(0, 0, size, size))
		for y := range size {
			for x := range size {
				img.SetGray(x, y, color.Gray{Y: uint8((x*31 + y*17 + i*40) % 256)})
			}
		}
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("img%02d.png", i)))
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(f, img); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
}
