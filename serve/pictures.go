package serve

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/ddpm-runner/ddpm-runner/figures"
	"github.com/ddpm-runner/ddpm-runner/interop/npy"
	"github.com/ddpm-runner/ddpm-runner/report"
	"github.com/ddpm-runner/ddpm-runner/results"
)

// What a picture of a run's samples.npz reads and draws: the first images of the file only
// (a run's samples for FID are tens of thousands), in a grid of at most maxGridSide pixels a
// side.
const (
	gridColumns         = 10
	maxSamplesFileBytes = 1 << 40
	maxSampleBytes      = 16 << 20
	maxGridSide         = 2048
)

// picture is one picture on a run's page: the artifact it shows, what it is, and where the
// browser gets it (from the server, or in a snapshot the picture itself as a data: URL).
type picture struct {
	Name    string
	Caption string
	Src     template.URL
}

// samplesGrid draws the first images of a run's samples.npz, read through
// results.Store.OpenArtifact (a regular file inside the run's folder) as far as those images
// only, in a grid as the engine draws samples_grid.png from the same samples. It returns the
// PNG and a caption saying what it shows.
func samplesGrid(store *results.Store, id int64) ([]byte, string, error) {
	f, err := store.OpenArtifact(id, results.SamplesNPZArtifact, maxSamplesFileBytes)
	if err != nil {
		return nil, "", err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, "", err
	}
	images, shape, err := npy.ReadSamplesHead(f, st.Size(), results.SamplesNPZArtifact, gridColumns*gridColumns, maxSampleBytes)
	if err != nil {
		return nil, "", err
	}
	h, w, c := shape[1], shape[2], shape[3]
	if c != 1 && c != 3 {
		return nil, "", fmt.Errorf("%s holds images of %d channels; a picture is drawn of 1 (grey) or 3 (RGB)", results.SamplesNPZArtifact, c)
	}
	cols := gridColumns
	for ; cols > 0; cols-- {
		if wd, _ := figures.GridSize(cols*cols, h, w, cols); wd <= maxGridSide {
			break
		}
	}
	if cols == 0 || h <= 0 || w <= 0 {
		return nil, "", fmt.Errorf("%s holds images of %d x %d, which do not fit a picture of %d pixels a side", results.SamplesNPZArtifact, h, w, maxGridSide)
	}
	n := min(shape[0], cols*cols)
	if n == 0 {
		return nil, "", fmt.Errorf("%s holds no samples", results.SamplesNPZArtifact)
	}
	var b bytes.Buffer
	if err := figures.WriteGridPNG(&b, images[:n*h*w*c], h, w, c, cols); err != nil {
		return nil, "", err
	}
	return b.Bytes(), fmt.Sprintf("%s: the first %d of its %d samples (%d x %d, %d channels), the bytes as written", results.SamplesNPZArtifact, n, shape[0], h, w, c), nil
}

// pictures are a run's PNG artifacts that it may show (report.ReadPicture) and, where it
// recorded no sample grid, the grid of its samples.npz. Inline puts each picture into its
// source as a data: URL, for a page that no server answers; otherwise its source is the
// server's URL for it, with a version that changes when the picture does. A picture refused
// is said on arts' Warn.
func pictures(arts *report.Artifacts, db int, id int64, names []string, inline bool) []picture {
	var out []picture
	src := func(path string, png []byte) template.URL {
		if inline {
			return report.DataURL(png)
		}
		return template.URL(fmt.Sprintf("%s?v=%08x", path, crc32.ChecksumIEEE(png)))
	}
	grid := false
	for _, name := range names {
		if !strings.HasSuffix(name, ".png") {
			continue
		}
		b := arts.Picture(id, name)
		if b == nil {
			continue
		}
		grid = grid || name == results.SampleGridArtifact
		out = append(out, picture{Name: name, Caption: report.TerminalText(name),
			Src: src(fmt.Sprintf("/artifact/%d/%d/%s", db, id, url.PathEscape(name)), b)})
	}
	for _, name := range names {
		if name != results.SamplesNPZArtifact || grid {
			continue
		}
		b, caption, err := samplesGrid(arts.Store, id)
		if err != nil {
			arts.Refused(id, name, err)
			continue
		}
		out = append(out, picture{Name: name, Caption: caption, Src: src(fmt.Sprintf("/samples/%d/%d", db, id), b)})
	}
	return out
}

// samples serves the grid of a run's samples.npz (see samplesGrid).
func (s *Server) samples(w http.ResponseWriter, r *http.Request) {
	_, src, ok := s.source(w, r)
	if !ok {
		return
	}
	id, ok := runID(w, r)
	if !ok {
		return
	}
	b, _, err := samplesGrid(src.Store, id)
	if errors.Is(err, results.ErrNoArtifact) {
		http.Error(w, fmt.Sprintf("run %d recorded no %s", id, results.SamplesNPZArtifact), http.StatusNotFound)
		return
	}
	if err != nil {
		http.Error(w, fmt.Sprintf("run %d: %s refused: %s", id, results.SamplesNPZArtifact, report.TerminalText(err.Error())), http.StatusForbidden)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(b)
}
