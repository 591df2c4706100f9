package inception

import (
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // decoders for the formats pytorch-fid reads that Go has
	_ "image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"

	_ "golang.org/x/image/bmp"
	_ "golang.org/x/image/tiff"
	_ "golang.org/x/image/webp"
)

// ImageExtensions are the file extensions pytorch-fid takes from a folder (IMAGE_EXTENSIONS,
// matched case-sensitively as its glob does); pgm and ppm have no Go decoder here and are
// refused by name.
var ImageExtensions = []string{"bmp", "jpg", "jpeg", "pgm", "png", "ppm", "tif", "tiff", "webp"}

// ListImages lists a folder's image files as pytorch-fid does: the files (not in subfolders)
// whose extension is one of ImageExtensions, sorted by path.
func ListImages(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		ext := strings.TrimPrefix(filepath.Ext(e.Name()), ".")
		if slices.Contains(ImageExtensions, ext) && !e.IsDir() {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	slices.Sort(out)
	return out, nil
}

// LoadImage reads an image file as pytorch-fid's ImagePathDataset does (PIL's
// convert("RGB") then ToTensor): [h, w, 3] channels last, each 8-bit value v as v/255 in
// float32, grey replicated to three channels, alpha dropped (not composited).
func LoadImage(path string) (img []float32, h, w int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, 0, err
	}
	defer f.Close()
	m, _, err := image.Decode(f)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("%s: %w", path, err)
	}
	b := m.Bounds()
	h, w = b.Dy(), b.Dx()
	img = make([]float32, 0, h*w*3)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := color.NRGBAModel.Convert(m.At(x, y)).(color.NRGBA)
			img = append(img, float32(c.R)/255, float32(c.G)/255, float32(c.B)/255)
		}
	}
	return img, h, w, nil
}
