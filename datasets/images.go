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
// when there are at least ten. A folder with no images of its own but subfolders of them is
// torchvision's ImageFolder layout: one subfolder per class, classes in name order, and the
// images in class order, each class's in name order (LoadImages then returns LabeledImages).
type Images struct {
	Dir            string
	Size           int
	Channels       int
	train, heldOut [][]byte
	// ClassNames are the class subfolders in label order (nil for a flat folder); trainY and
	// heldOutY the labels of train and heldOut.
	ClassNames       []string
	trainY, heldOutY []int
	shuffler         epochShuffler
	// decodePeak is the most memory decoding one file took (its full-size pixels and the
	// resized copy), from the headers.
	decodePeak int64
}

// LabeledImages is an Images folder in ImageFolder's layout: its images have class labels.
type LabeledImages struct{ *Images }

// Classes implements plugins.LabeledData: one class per subfolder.
func (l LabeledImages) Classes() int { return len(l.ClassNames) }

// TrainLabeled implements plugins.LabeledData: Train's examples with their classes.
func (l LabeledImages) TrainLabeled(seed uint64, step, n int, dst []float32, labels []int32) {
	d := l.Dim()
	l.shuffler.take(seed, step, n, len(l.train), func(i, k int) {
		toFloat(l.train[k], dst[i*d:(i+1)*d])
		labels[i] = int32(l.trainY[k])
	})
}

// HeldOutLabels returns the labels of the images HeldOut(n) returns.
func (l LabeledImages) HeldOutLabels(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = l.heldOutY[i%len(l.heldOutY)]
	}
	return out
}

// imageFiles lists the .png, .jpg and .jpeg files directly in dir, in name order.
func imageFiles(dir string) ([]string, error) {
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
	return files, nil
}

// classFolders lists ImageFolder's classes: the subfolders of dir in name order (as
// torchvision sorts them), with each one's image files. Only real folders count: a symbolic
// link is not followed out of dir.
func classFolders(dir string) (names []string, files [][]string, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("images: %w", err)
	}
	for _, e := range entries { // ReadDir gives them in name order
		if !e.IsDir() {
			continue
		}
		f, err := imageFiles(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, nil, err
		}
		names, files = append(names, e.Name()), append(files, f)
	}
	return names, files, nil
}

// LoadImagesDataset is LoadImages as a plugins.Dataset: LabeledImages for a folder of class
// subfolders, so that class-conditional training finds its labels.
func LoadImagesDataset(dir string, size int, mode string) (plugins.Dataset, error) {
	im, err := LoadImages(dir, size, mode)
	if err != nil {
		return nil, err
	}
	if im.ClassNames != nil {
		return LabeledImages{im}, nil
	}
	return im, nil
}

// LoadImages reads every .png, .jpg and .jpeg file in dir, or, when dir has none but has
// subfolders, in each subfolder (ImageFolder's layout, one class each).
func LoadImages(dir string, size int, mode string) (*Images, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("images: folder %q: %w", dir, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("images: %q is not a folder", dir)
	}
	files, err := imageFiles(dir)
	if err != nil {
		return nil, err
	}
	var classNames []string
	var labels []int // of files, for ImageFolder's layout
	if len(files) == 0 {
		names, perClass, err := classFolders(dir)
		if err != nil {
			return nil, err
		}
		for c, f := range perClass {
			if len(f) == 0 {
				return nil, fmt.Errorf("images: class folder %q has no .png, .jpg or .jpeg files (ImageFolder's layout: every subfolder of %q is a class)",
					filepath.Join(dir, names[c]), dir)
			}
			files = append(files, f...)
			for range f {
				labels = append(labels, c)
			}
		}
		if len(names) > 0 {
			classNames = names
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("images: no .png, .jpg or .jpeg files in %q, nor subfolders of them (one per class)", dir)
	}
	im := &Images{Dir: dir, Size: size, Channels: 1, ClassNames: classNames}
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
			if labels != nil {
				im.heldOutY = append(im.heldOutY, labels[i])
			}
		} else {
			im.train = append(im.train, px)
			if labels != nil {
				im.trainY = append(im.trainY, labels[i])
			}
		}
	}
	if len(im.heldOut) == 0 {
		// Too few files to hold any out: metrics compare with the training images.
		im.heldOut, im.heldOutY = im.train, im.trainY
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
			{Name: "path", Type: plugins.String, Default: "", Doc: "the folder (required): image files, or one subfolder of them per class (torchvision's ImageFolder layout; classes in name order) for labels"},
			{Name: "size", Type: plugins.Int, Default: 32, Min: plugins.Bound(4), Max: plugins.Bound(512), Doc: "side of the square images"},
			{Name: "color", Type: plugins.String, Default: "gray", Choices: []string{"gray", "rgb"}, Doc: "grayscale (1 channel) or RGB (3)"},
		},
		New: func(v plugins.Values) (plugins.Dataset, error) {
			if v.String("path") == "" {
				return nil, fmt.Errorf("images: key \"path\" in [data] is required (a folder of PNG/JPEG files)")
			}
			return LoadImagesDataset(v.String("path"), v.Int("size"), v.String("color"))
		},
	})
}
