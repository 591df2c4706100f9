package datasets

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ddpm-runner/ddpm-runner/plugins"
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

// pngHeader is the start of a PNG file whose header claims w x h pixels of the given color
// type (0 gray, 6 RGBA), with no pixel data: enough for image.DecodeConfig.
func pngHeader(w, h uint32, colorType byte) []byte {
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, colorType // bit depth, color type
	chunk := append([]byte("IHDR"), ihdr...)
	out := []byte("\x89PNG\r\n\x1a\n")
	out = binary.BigEndian.AppendUint32(out, 13)
	out = append(out, chunk...)
	out = binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(chunk))
	// An empty IDAT and IEND, so that the file is complete apart from its pixels.
	for _, name := range []string{"IDAT", "IEND"} {
		out = binary.BigEndian.AppendUint32(out, 0)
		out = append(out, name...)
		out = binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE([]byte(name)))
	}
	return out
}

// Headers are read before anything is decoded: an image claiming more than MaxImagePixels is
// refused, naming the file and the limit, without allocating its pixels (the 74-byte PNG
// saying 200000 x 200000 ended the runner with "fatal error: out of memory"); a file that is
// not a regular file is refused instead of blocking or reading forever.
func TestImageHeadersAreCheckedBeforeDecoding(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, dir string) string // returns the offending file
		want  string
	}{
		{"200000 x 200000", func(t *testing.T, dir string) string {
			return writeBytes(t, dir, "huge.png", pngHeader(200000, 200000, 6))
		}, "is a 200000 x 200000 png image; at most 67108864 pixels (8192 x 8192) are allowed"},
		{"one pixel over the limit", func(t *testing.T, dir string) string {
			return writeBytes(t, dir, "wide.png", pngHeader(8192*8192+1, 1, 0))
		}, "is a 67108865 x 1 png image"},
		{"oversized after a good one", func(t *testing.T, dir string) string {
			writePNG(t, filepath.Join(dir, "a.png"), 8, 8)
			return writeBytes(t, dir, "z.png", pngHeader(30000, 30000, 0))
		}, "is a 30000 x 30000 png image"},
		{"device", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "zero.png")
			if err := os.Symlink("/dev/zero", p); err != nil {
				t.Fatal(err)
			}
			return p
		}, "is not a regular file"},
		{"fifo", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "pipe.png")
			if err := syscall.Mkfifo(p, 0o644); err != nil {
				t.Skip(err)
			}
			return p
		}, "is not a regular file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			bad := tc.setup(t, dir)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			done := make(chan error, 1)
			go func() { _, err := LoadImages(dir, 8, "rgb"); done <- err }()
			var err error
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				// Unblock a reader stuck on the FIFO before failing.
				if w, e := os.OpenFile(bad, os.O_WRONLY|syscall.O_NONBLOCK, 0); e == nil {
					w.Close()
				}
				t.Fatal("LoadImages blocked")
			}
			runtime.ReadMemStats(&after)
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
				t.Errorf("allocated %d MiB before refusing", alloc>>20)
			}
			if err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error naming %s and saying %q", err, bad, tc.want)
			}
		})
	}
}

func writeBytes(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// MemoryBytes counts the pixels kept (held-out images once, even when they are the training
// images) and the largest decode: full-size pixels from the header plus the resized copy.
func TestImagesMemoryBytes(t *testing.T) {
	for _, tc := range []struct {
		files, w, h          int
		resident, decodePeak int64
	}{
		// png.Encode writes an opaque RGBA image as RGB, which decodes to 4 bytes a pixel.
		{12, 40, 20, 12 * 8 * 8 * 3, 40*20*4 + 8*8*4},
		{3, 30, 50, 3 * 8 * 8 * 3, 30*50*4 + 8*8*4},
	} {
		dir := t.TempDir()
		for i := range tc.files {
			writePNG(t, filepath.Join(dir, fmt.Sprintf("img%02d.png", i)), tc.w, tc.h)
		}
		im, err := LoadImages(dir, 8, "rgb")
		if err != nil {
			t.Fatal(err)
		}
		if r, l := im.MemoryBytes(); r != tc.resident || l != tc.decodePeak {
			t.Errorf("%d files of %d x %d: MemoryBytes %d, %d; want %d, %d", tc.files, tc.w, tc.h, r, l, tc.resident, tc.decodePeak)
		}
	}
}

// writeSolidPNG writes a w x h image of one gray level.
func writeSolidPNG(t *testing.T, path string, w, h int, v uint8) {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = v
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

// TestImageFolderLabels: one subfolder per class, classes in name order as torchvision's
// ImageFolder sorts them, each image labelled by its folder; a flat folder has no labels.
func TestImageFolderLabels(t *testing.T) {
	dir := t.TempDir()
	// Made out of name order; each class's images share a gray level that identifies it.
	levels := map[string]uint8{"cat": 200, "ant": 0, "bee": 100}
	for _, class := range []string{"cat", "ant", "bee"} {
		if err := os.Mkdir(filepath.Join(dir, class), 0o755); err != nil {
			t.Fatal(err)
		}
		for i := range 4 {
			writeSolidPNG(t, filepath.Join(dir, class, fmt.Sprintf("%d.png", i)), 6, 6, levels[class])
		}
	}
	// A file beside a class folder is not an image of the folder (ImageFolder ignores it too).
	if err := os.WriteFile(filepath.Join(dir, "README.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := LoadImagesDataset(dir, 4, "gray")
	if err != nil {
		t.Fatal(err)
	}
	ld, ok := d.(plugins.LabeledData)
	if !ok {
		t.Fatalf("%T has no labels", d)
	}
	im := d.(LabeledImages)
	if strings.Join(im.ClassNames, ",") != "ant,bee,cat" || ld.Classes() != 3 {
		t.Fatalf("classes %v", im.ClassNames)
	}
	// 12 images in class order: every tenth (the 10th, cat's second) is held out.
	if len(im.train) != 11 || len(im.heldOut) != 1 || im.heldOutY[0] != 2 {
		t.Fatalf("%d train, %d held out (labels %v)", len(im.train), len(im.heldOut), im.heldOutY)
	}
	scaled := func(v uint8) float32 { return float32(v)/127.5 - 1 } // as every image dataset scales
	want := map[int32]float32{0: scaled(0), 1: scaled(100), 2: scaled(200)}
	x := make([]float32, 11*16)
	labels := make([]int32, 11)
	ld.TrainLabeled(3, 0, 11, x, labels)
	count := map[int32]int{}
	for i, l := range labels {
		count[l]++
		if x[i*16] != want[l] || x[i*16+15] != want[l] {
			t.Errorf("example %d labelled %d has pixel %v, want %v", i, l, x[i*16], want[l])
		}
	}
	if count[0] != 4 || count[1] != 4 || count[2] != 3 {
		t.Errorf("an epoch's labels %v, want 4 ant, 4 bee, 3 cat", count)
	}
	// Train gives the same examples as TrainLabeled.
	plain := make([]float32, 11*16)
	d.Train(3, 0, 11, plain)
	for i := range plain {
		if plain[i] != x[i] {
			t.Fatal("Train and TrainLabeled differ")
		}
	}

	// A flat folder keeps today's behaviour: no labels, subfolders ignored.
	flat := t.TempDir()
	for i := range 3 {
		writeSolidPNG(t, filepath.Join(flat, fmt.Sprintf("%d.png", i)), 6, 6, 50)
	}
	if err := os.Mkdir(filepath.Join(flat, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeSolidPNG(t, filepath.Join(flat, "sub", "x.png"), 6, 6, 250)
	fd, err := LoadImagesDataset(flat, 4, "gray")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := fd.(plugins.LabeledData); ok || len(fd.(*Images).train) != 3 {
		t.Errorf("flat folder: %T with %d images", fd, len(fd.(*Images).train))
	}

	// A class folder without images is an error naming it.
	if err := os.Mkdir(filepath.Join(dir, "dog"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadImagesDataset(dir, 4, "gray"); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "dog")) {
		t.Errorf("empty class folder: error %v", err)
	}
}
