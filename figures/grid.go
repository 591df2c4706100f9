package figures

import (
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
)

// GridPNG writes up to cols x cols images (HWC values in [-1, 1], clipped) as one PNG grid
// with a one-pixel gap, each image scaled up so that small images stay visible.
func GridPNG(path string, x []float32, h, w, c, cols int) error {
	d := h * w * c
	n := min(len(x)/d, cols*cols)
	rows := (n + cols - 1) / cols
	scale := max(1, 56/max(h, w))
	cellH, cellW := h*scale+1, w*scale+1
	img := image.NewRGBA(image.Rect(0, 0, cols*cellW+1, rows*cellH+1))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	toByte := func(v float32) uint8 {
		if math.IsNaN(float64(v)) {
			return 0
		}
		f := (float64(v) + 1) * 127.5
		return uint8(math.Max(0, math.Min(255, math.Round(f))))
	}
	for k := range n {
		ox, oy := (k%cols)*cellW+1, (k/cols)*cellH+1
		for y := range h * scale {
			for xx := range w * scale {
				base := k*d + ((y/scale)*w+xx/scale)*c
				var col color.RGBA
				if c == 1 {
					g := toByte(x[base])
					col = color.RGBA{g, g, g, 255}
				} else {
					col = color.RGBA{toByte(x[base]), toByte(x[base+1]), toByte(x[base+2]), 255}
				}
				img.SetRGBA(ox+xx, oy+y, col)
			}
		}
	}
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
