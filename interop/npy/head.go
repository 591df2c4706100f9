package npy

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	"codeberg.org/sbinet/npyio/npy"
	"codeberg.org/sbinet/npyio/npz"
)

// What ReadSamplesHead accepts of a file it did not write: a zip directory and an array
// header as numpy.savez writes them are far smaller.
const (
	maxDirectoryBytes = 1 << 20
	maxHeaderBytes    = 64 << 10
)

// ReadSamplesHead reads the first images (at most max, and at most maxBytes of them) of the samples arr_0 in the .npz that
// r holds (size bytes; file names it in errors): uint8 in [N, H, W, C] order, and the shape
// of the whole array. Only those images are read, so a picture of a run's first samples costs
// the same for 100 samples as for 50,000. The archive may come from anyone who can write a
// run's folder: its zip directory, its array header and its shape are checked before
// anything is allocated for them, and a file that is not what numpy.savez writes is an error,
// never a panic.
func ReadSamplesHead(r io.ReaderAt, size int64, file string, max, maxBytes int) (images []uint8, shape []int, err error) {
	defer func() {
		// npyio was written for files its caller trusts; whatever it does with a file that
		// slipped past the checks below is this file's error.
		if p := recover(); p != nil {
			images, shape, err = nil, nil, fmt.Errorf("%s: not a NumPy .npz archive (%v)", file, p)
		}
	}()
	if err := checkDirectory(r, size); err != nil {
		return nil, nil, fmt.Errorf("%s: not a NumPy .npz archive: %w", file, err)
	}
	z, err := npz.NewReader(r, size)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: not a NumPy .npz archive: %w", file, err)
	}
	member := ""
	for _, k := range []string{SamplesName + ".npy", SamplesName} {
		if slices.Contains(z.Keys(), k) {
			member = k
			break
		}
	}
	if member == "" {
		return nil, nil, fmt.Errorf("%s has no array %q (it holds %s)", file, SamplesName, strings.Join(z.Keys(), ", "))
	}
	name := file + ":" + SamplesName
	rc, err := z.Open(member)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	defer rc.Close()
	head, err := checkHeader(rc)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: not a NumPy array: %w", name, err)
	}
	h, err := npy.NewReader(io.MultiReader(bytes.NewReader(head), rc))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: not a NumPy array: %w", name, err)
	}
	if err := check[uint8](name, h.Header, []int{Any, Any, Any, Any}); err != nil {
		return nil, nil, err
	}
	shape = slices.Clone(h.Header.Descr.Shape)
	if _, err := numElems(shape); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	n, per := min(shape[0], max), shape[1]*shape[2]*shape[3]
	if n > 0 && per > maxBytes/n {
		return nil, nil, fmt.Errorf("%s holds images of %d x %d x %d: %d of them are more than the %d bytes allowed", name, shape[1], shape[2], shape[3], n, maxBytes)
	}
	images = make([]uint8, n*per)
	// A uint8 array's values are its bytes, right after the header.
	if _, err := io.ReadFull(rc, images); err != nil {
		return nil, nil, fmt.Errorf("%s: %d of its %s values could not be read (file cut short?): %w", name, len(images), ShapeString(shape), err)
	}
	return images, shape, nil
}

// checkHeader reads an .npy header's fixed part and its text, and returns them if the text
// is of a reasonable length and ends as the format says (npyio allocates what the length
// field says and panics on a text without a newline).
func checkHeader(r io.Reader) ([]byte, error) {
	fixed := make([]byte, 10)
	if _, err := io.ReadFull(r, fixed); err != nil {
		return nil, err
	}
	if !bytes.Equal(fixed[:6], npy.Magic[:]) {
		return nil, errors.New("no .npy signature")
	}
	var n int
	switch fixed[6] {
	case 1:
		n = int(binary.LittleEndian.Uint16(fixed[8:10]))
	case 2, 3:
		more := make([]byte, 2)
		if _, err := io.ReadFull(r, more); err != nil {
			return nil, err
		}
		fixed = append(fixed, more...)
		n64 := binary.LittleEndian.Uint32(fixed[8:12])
		if n64 > maxHeaderBytes {
			return nil, fmt.Errorf("a header of %d bytes, more than the %d allowed", n64, maxHeaderBytes)
		}
		n = int(n64)
	default:
		return nil, fmt.Errorf("format version %d.%d", fixed[6], fixed[7])
	}
	if n > maxHeaderBytes {
		return nil, fmt.Errorf("a header of %d bytes, more than the %d allowed", n, maxHeaderBytes)
	}
	text := make([]byte, n)
	if _, err := io.ReadFull(r, text); err != nil {
		return nil, err
	}
	if !bytes.HasSuffix(text, []byte("\n")) {
		return nil, errors.New("its header does not end in a newline")
	}
	return append(fixed, text...), nil
}

// checkDirectory finds the zip archive's end of directory and refuses a directory larger
// than maxDirectoryBytes: archive/zip keeps a record in memory for each entry it finds there,
// and a numpy.savez archive has one entry per array.
func checkDirectory(r io.ReaderAt, size int64) error {
	const eocdLen, maxComment = 22, math.MaxUint16
	tail := min(size, eocdLen+maxComment)
	buf := make([]byte, tail)
	if _, err := r.ReadAt(buf, size-tail); err != nil && err != io.EOF {
		return err
	}
	at := bytes.LastIndex(buf, []byte("PK\x05\x06"))
	if at < 0 || len(buf)-at < eocdLen {
		return errors.New("no zip directory")
	}
	end := size - tail + int64(at)
	offset := uint64(binary.LittleEndian.Uint32(buf[at+16:]))
	if offset == math.MaxUint32 { // ZIP64: the offset is in the ZIP64 end record
		loc := make([]byte, 20)
		if end < 20 {
			return errors.New("no ZIP64 locator")
		}
		if _, err := r.ReadAt(loc, end-20); err != nil || !bytes.Equal(loc[:4], []byte("PK\x06\x07")) {
			return errors.New("no ZIP64 locator")
		}
		rec := make([]byte, 56)
		at64 := binary.LittleEndian.Uint64(loc[8:])
		if at64 > uint64(size) {
			return errors.New("a ZIP64 end record outside the file")
		}
		if _, err := r.ReadAt(rec, int64(at64)); err != nil || !bytes.Equal(rec[:4], []byte("PK\x06\x06")) {
			return errors.New("no ZIP64 end record")
		}
		offset = binary.LittleEndian.Uint64(rec[48:])
		end = int64(at64)
	}
	if offset > uint64(end) {
		return errors.New("a zip directory outside the file")
	}
	if n := uint64(end) - offset; n > maxDirectoryBytes {
		return fmt.Errorf("a zip directory of %d bytes, more than the %d allowed", n, maxDirectoryBytes)
	}
	return nil
}
