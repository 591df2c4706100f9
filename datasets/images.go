package datasets

import (
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // decoders for image.Decode
	_ "image/png"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/image/draw"

	"github.com/ddpm-runner/ddpm-runner/plugins"
)

// MaxImagePixels is the most pixels (width x height) an image of an images folder may have.
// Each file is decoded at full size before it is resized, and a header may claim any size:
// a 74-byte PNG saying 200000 x 200000 would ask for 160 GB.
const MaxImagePixels = 8192 * 8192

// Images is a folder of PNG or JPEG files, centre-cropped to a square, resized, and stored
// as 8-bit pixels (HWC order) scaled to [-1, 1]. Every tenth file in name order is held out
// when there are at least ten.
type Images struct {
	Dir            string
	Size           int
	Channels       int
	train, heldOut [][]byte
	shuffler       epochShuffler
	// decodePeak is the most memory decoding one file took (its full-size pixels and the
	// resized copy), from the headers.
	decodePeak int64
}

// LoadImages reads every .png, .jpg and .jpeg file in dir.
func LoadImages(dir string, size int, mode string) (*Images, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("images: folder %q: %w", dir, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("images: %q is not a folder", dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("images: %w", err)
	}
	var files []string
	for _, e := range entries {
		ext := strings.ToLower(filepath.Ext(e.Name()))
		if !e.IsDir() && (ext == ".png" || ext == ".jpg" || ext == ".jpeg") {
			files = append(files, filepath.Join(dir, e.Name()))
		}
	}
	sort.Strings(files)
	if len(files) == 0 {
		return nil, fmt.Errorf("images: no .png, .jpg or .jpeg files in %q", dir)
	}
	im := &Images{Dir: dir, Size: size, Channels: 1}
	if mode == "rgb" {
		im.Channels = 3
	}
	// Every header is read before any file is decoded, so that a folder with one oversized
	// image is refused before the others take time and memory.
	for _, f := range files {
		bytes, err := checkImageHeader(f)
		if err != nil {
			return nil, err
		}
		im.decodePeak = max(im.decodePeak, bytes+int64(size)*int64(size)*4)
	}
	for i, f := range files {
		px, err := readImage(f, size, im.Channels)
		if err != nil {
			return nil, err
		}
		if len(files) >= 10 && i%10 == 9 {
			im.heldOut = append(im.heldOut, px)
		} else {
			im.train = append(im.train, px)
		}
	}
	if len(im.heldOut) == 0 {
		// Too few files to hold any out: metrics compare with the training images.
		im.heldOut = im.train
	}
	return im, nil
}

// checkImageHeader reads an image file's header and refuses what is not a regular file or
// has more than MaxImagePixels pixels; it returns how many bytes the decoded image takes.
func checkImageHeader(path string) (int64, error) {
	f, err := openImage(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return checkHeader(f, path)
}

// checkHeader is checkImageHeader on an open file, read from its start.
func checkHeader(f *os.File, path string) (int64, error) {
	cfg, format, err := image.DecodeConfig(f)
	if err != nil {
		return 0, fmt.Errorf("images: cannot decode %s: %v", path, err)
	}
	w, h := int64(cfg.Width), int64(cfg.Height)
	if w <= 0 || h <= 0 || w*h > MaxImagePixels {
		return 0, fmt.Errorf("images: %s is a %d x %d %s image; at most %d pixels (8192 x 8192) are allowed: resize it first",
			path, w, h, format, int64(MaxImagePixels))
	}
	return w * h * bytesPerPixel(cfg.ColorModel), nil
}

// bytesPerPixel is what the decoder's image type for a color model takes per pixel.
func bytesPerPixel(m color.Model) int64 {
	switch m {
	case color.GrayModel, color.AlphaModel:
		return 1
	case color.Gray16Model, color.Alpha16Model:
		return 2
	case color.YCbCrModel:
		return 3 // at most, with no chroma subsampling
	case color.CMYKModel, color.RGBAModel, color.NRGBAModel:
		return 4
	}
	if _, ok := m.(color.Palette); ok {
		return 1
	}
	return 8 // RGBA64 and NRGBA64, and anything else at most
}

// openImage opens a file of the folder for reading, refusing anything but a regular file
// (after symlinks): a FIFO would block and a device would never end.
func openImage(path string) (*os.File, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("images: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("images: %s is not a regular file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("images: %w", err)
	}
	return f, nil
}

// MemoryBytes implements plugins.SizedDataset: the 8-bit pixels kept, and the most that
// decoding one file took beside them.
func (im *Images) MemoryBytes() (resident, loading int64) {
	sets := [][][]byte{im.train}
	if len(im.heldOut) > 0 && len(im.train) > 0 && &im.heldOut[0] != &im.train[0] {
		sets = append(sets, im.heldOut) // not the training images again
	}
	for _, set := range sets {
		for _, px := range set {
			resident += int64(len(px))
		}
	}
	return resident, im.decodePeak
}

func readImage(path string, size, channels int) ([]byte, error) {
	f, err := openImage(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// The header is checked again on the file that is decoded, which may have changed since.
	if _, err := checkHeader(f, path); err != nil {
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("images: %w", err)
	}
	src, _, err := image.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("images: cannot decode %s: %v", path, err)
	}
	b := src.Bounds()
	side := min(b.Dx(), b.Dy())
	corner := image.Pt(b.Min.X+(b.Dx()-side)/2, b.Min.Y+(b.Dy()-side)/2)
	crop := image.Rectangle{Min: corner, Max: corner.Add(image.Pt(side, side))}
	dst := image.NewRGBA(image.Rect(0, 0, size, size))
	draw.CatmullRom.Scale(dst, dst.Bounds(), src, crop, draw.Src, nil)
	out := make([]byte, size*size*channels)
	for y := range size {
		for x := range size {
			c := dst.RGBAAt(x, y)
			i := (y*size + x) * channels
			if channels == 1 {
				out[i] = color.GrayModel.Convert(c).(color.Gray).Y
			} else {
				out[i], out[i+1], out[i+2] = c.R, c.G, c.B
			}
		}
	}
	return out, nil
}

// Dim implements plugins.Dataset.
func (im *Images) Dim() int { return im.Size * im.Size * im.Channels }

// Discrete implements plugins.Dataset: pixels are 8-bit.
func (im *Images) Discrete() bool { return true }

// ImageShape gives height, width and channels.
func (im *Images) ImageShape() (h, w, c int) { return im.Size, im.Size, im.Channels }

// Train implements plugins.Dataset: shuffled epochs, as for MNIST.
func (im *Images) Train(seed uint64, step, n int, dst []float32) {
	d := im.Dim()
	im.shuffler.take(seed, step, n, len(im.train), func(i, k int) { toFloat(im.train[k], dst[i*d:(i+1)*d]) })
}

// HeldOut implements plugins.Dataset: the held-out images, repeated if n is larger.
func (im *Images) HeldOut(n int) []float32 {
	d := im.Dim()
	out := make([]float32, n*d)
	for i := range n {
		toFloat(im.heldOut[i%len(im.heldOut)], out[i*d:(i+1)*d])
	}
	return out
}

func init() {
	plugins.Register(plugins.Plugin{
		Kind: plugins.KindDataset, Name: "images",
		Doc: "a folder of PNG/JPEG files, centre-cropped and resized, 8-bit, scaled to [-1, 1]",
		Params: []plugins.Param{
			{Name: "path", Type: plugins.String, Default: "", Doc: "the folder (required)"},
			{Name: "size", Type: plugins.Int, Default: 32, Min: plugins.Bound(4), Max: plugins.Bound(512), Doc: "side of the square images"},
			{Name: "color", Type: plugins.String, Default: "gray", Choices: []string{"gray", "rgb"}, Doc: "grayscale (1 channel) or RGB (3)"},
		},
		New: func(v plugins.Values) (plugins.Dataset, error) {
			if v.String("path") == "" {
				return nil, fmt.Errorf("images: key \"path\" in [data] is required (a folder of PNG/JPEG files)")
			}
			return LoadImages(v.String("path"), v.Int("size"), v.String("color"))
		},
	})
}
