package report

import (
	"bytes"
	"errors"
	"fmt"
	"image/png"
	"io"
	"strconv"
	"strings"

	"github.com/ddpm-runner/ddpm-runner/results"
)

// What the report reads from a run's folder is bounded: a page embeds each picture whole,
// and a figure needs only a table of numbers. The runner's own artifacts stay far below
// these.
const (
	maxPictureBytes  = 16 << 20
	maxPicturePixels = 8192 * 8192
	maxTableBytes    = 64 << 20
)

// Artifacts reads the files that runs recorded, for the figures, the sample pictures and the
// bootstrap: through results.Store.ReadArtifact, so only bounded regular files inside each
// run's own folder, each checked for what it must be (a PNG, a CSV of numbers). A file it
// refuses is left out of the report, and said on Warn once.
type Artifacts struct {
	Store *results.Store
	// Warn receives one line per refused file (nil: refusals go unsaid).
	Warn   io.Writer
	warned map[string]bool
}

// read returns a run's artifact, or nil when it has none or it was refused (and said).
func (a *Artifacts) read(id int64, name string, maxBytes int64) []byte {
	if a == nil || a.Store == nil {
		return nil
	}
	b, err := a.Store.ReadArtifact(id, name, maxBytes)
	if errors.Is(err, results.ErrNoArtifact) {
		return nil
	}
	if err != nil {
		a.warn(id, name, err)
		return nil
	}
	return b
}

// warn says once per artifact why it was left out.
func (a *Artifacts) warn(id int64, name string, err error) {
	key := fmt.Sprintf("%d\x00%s", id, name)
	if a.Warn == nil || a.warned[key] {
		return
	}
	if a.warned == nil {
		a.warned = map[string]bool{}
	}
	a.warned[key] = true
	var ae *results.ArtifactError
	if errors.As(err, &ae) {
		err = ae.Err // the warning names the run and the artifact itself
	}
	fmt.Fprintf(a.Warn, "warning: run %d: %s not read, left out of the report: %s\n", id, TerminalText(name), TerminalText(err.Error()))
}

// Refused says once on Warn that a run's artifact was left out, and why.
func (a *Artifacts) Refused(id int64, name string, err error) { a.warn(id, name, err) }

// Picture returns a run's PNG artifact if it is one (see ReadPicture), or nil (and says why).
func (a *Artifacts) Picture(id int64, name string) []byte {
	if a == nil || a.Store == nil {
		return nil
	}
	b, err := ReadPicture(a.Store, id, name)
	if err != nil {
		if !errors.Is(err, results.ErrNoArtifact) {
			a.warn(id, name, err)
		}
		return nil
	}
	return b
}

// ReadPicture reads a run's artifact through results.Store.ReadArtifact (a bounded regular
// file inside the run's folder) and returns it if it is a PNG picture: the PNG signature and
// header, and no more pixels than maxPicturePixels (a browser decodes a page's pictures
// whole). The error wraps results.ErrNoArtifact for an artifact the run never recorded.
func ReadPicture(store *results.Store, id int64, name string) ([]byte, error) {
	b, err := store.ReadArtifact(id, name, maxPictureBytes)
	if err != nil {
		return nil, err
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(b))
	switch {
	case err != nil:
		return nil, fmt.Errorf("not a PNG picture (%v)", err)
	case cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > maxPicturePixels:
		return nil, fmt.Errorf("a %d x %d picture, more than the %d pixels allowed", cfg.Width, cfg.Height, maxPicturePixels)
	}
	return b, nil
}

// column reads one numeric column of a run's CSV artifact (after its header), or nil if the
// run has no such artifact or it is not a CSV of numbers.
func (a *Artifacts) column(id int64, name string, col int) []float64 {
	b := a.read(id, name, maxTableBytes)
	if b == nil {
		return nil
	}
	var out []float64
	for i, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if i == 0 {
			continue
		}
		f := strings.Split(line, ",")
		if len(f) <= col {
			a.warn(id, name, fmt.Errorf("line %d has %d columns, want at least %d", i+1, len(f), col+1))
			return nil
		}
		v, err := strconv.ParseFloat(f[col], 64)
		if err != nil {
			a.warn(id, name, fmt.Errorf("line %d: column %d is not a number", i+1, col+1))
			return nil
		}
		out = append(out, v)
	}
	return out
}
