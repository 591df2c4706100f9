package figures

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"os"
)

// GridPNG writes up to cols x cols images (HWC values in [-1, 1], clipped) as one PNG grid
// with a one-pixel gap, each image scaled up so that small images stay visible.
func GridPNG(path string, x []float32, h, w, c, cols int) error {
	toByte := func(i int) uint8 {
		v := x[i]
		if math.IsNaN(float64(v)) {
			return 0
		}
		f := (float64(v) + 1) * 127.5
		return uint8(math.Max(0, math.Min(255, math.Round(f))))
	}
	img := grid(len(x)/(h*w*c), h, w, c, cols, toByte)
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// WriteGridPNG writes up to cols x cols images of bytes, [N, H, W, C] as a samples.npz holds
// them (C is 1 or 3), as GridPNG draws a grid.
func WriteGridPNG(out io.Writer, pixels []uint8, h, w, c, cols int) error {
	if h <= 0 || w <= 0 || (c != 1 && c != 3) || cols <= 0 {
		return fmt.Errorf("figures: cannot draw images of %d x %d x %d (height, width and 1 or 3 channels) in %d columns", h, w, c, cols)
	}
	return png.Encode(out, grid(len(pixels)/(h*w*c), h, w, c, cols, func(i int) uint8 { return pixels[i] }))
}

// GridSize is the width and height in pixels of a grid of n images of h x w in cols columns.
func GridSize(n, h, w, cols int) (width, height int) {
	cellH, cellW := cellSize(h, w)
	return cols*cellW + 1, (n+cols-1)/cols*cellH + 1
}

// cellSize is the room one image of h x w takes in a grid, scaled up so that small images
// stay visible, with its one-pixel gap.
func cellSize(h, w int) (cellH, cellW int) {
	scale := max(1, 56/max(h, w))
	return h*scale + 1, w*scale + 1
}

// grid lays out the first min(n, cols x cols) images, whose value i (in [N, H, W, C] order)
// is at(i).
func grid(n, h, w, c, cols int, at func(int) uint8) *image.RGBA {
	d := h * w * c
	n = min(n, cols*cols)
	rows := (n + cols - 1) / cols
	cellH, cellW := cellSize(h, w)
	scale := (cellH - 1) / h
	img := image.NewRGBA(image.Rect(0, 0, cols*cellW+1, rows*cellH+1))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	for k := range n {
		ox, oy := (k%cols)*cellW+1, (k/cols)*cellH+1
		for y := range h * scale {
			for xx := range w * scale {
				base := k*d + ((y/scale)*w+xx/scale)*c
				var col color.RGBA
				if c == 1 {
					g := at(base)
					col = color.RGBA{g, g, g, 255}
				} else {
					col = color.RGBA{at(base), at(base + 1), at(base + 2), 255}
				}
				img.SetRGBA(ox+xx, oy+y, col)
			}
		}
	}
	return img
}
