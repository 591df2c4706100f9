package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	urfave "github.com/urfave/cli/v2"
	"golang.org/x/term"
	"gonum.org/v1/gonum/mat"

	"github.com/ddpm-runner/ddpm-runner/backend"
	"github.com/ddpm-runner/ddpm-runner/featurizer/inception"
	"github.com/ddpm-runner/ddpm-runner/interop/npy"
	"github.com/ddpm-runner/ddpm-runner/metrics"
	"github.com/ddpm-runner/ddpm-runner/results"
)

// fidOptions are runner fid's flags.
type fidOptions struct {
	dims      int
	batch     int
	saveStats bool
	weights   string
	format    string
	backend   string
	db        string
}

func fidOptionsFrom(c *urfave.Context) fidOptions {
	return fidOptions{dims: c.Int("dims"), batch: c.Int("batch"), saveStats: c.Bool("save-stats"),
		weights: c.String("inception"), format: c.String("format"), backend: c.String("backend"), db: c.String("db")}
}

func fidCommand() *urfave.Command {
	return withUsageErrors(&urfave.Command{
		Name:      "fid",
		Usage:     "FID between two image sets as pytorch-fid computes it (its Inception weights, never downloaded)",
		ArgsUsage: "PATH PATH (a folder of images, a pytorch-fid .npz of mu and sigma, a samples.npz of arr_0 uint8 NHWC, or a run ID)",
		Description: "Each PATH is a folder of images (bmp, jpg, jpeg, png, tif, tiff, webp; grey replicated to RGB), a\n" +
			"pytorch-fid statistics .npz (mu, sigma), a samples .npz (arr_0, uint8 [N, H, W, C]), or the ID of a run\n" +
			"in --db (its samples.npz; a number that is also a file or folder here is read as that). The weights are\n" +
			"pytorch-fid's " + inception.WeightsFile + ": --inception, $" + inception.WeightsEnv + ", or torch hub's cache.\n" +
			"With --save-stats, writes the first PATH's statistics to the second, as pytorch-fid --save-stats.",
		Flags: []urfave.Flag{
			&urfave.IntFlag{Name: "dims", Value: 2048, Usage: "Inception features: 64, 192, 768 or 2048 (pool3)"},
			&urfave.IntFlag{Name: "batch", Value: 50, Usage: "images per forward pass"},
			&urfave.BoolFlag{Name: "save-stats", Usage: "write the statistics of the first PATH to the second (.npz)"},
			&urfave.StringFlag{Name: "inception", Usage: "the weights file (" + inception.WeightsFile + ")"},
			&urfave.StringFlag{Name: "format", Value: "text", Usage: "text or json"},
			&urfave.StringFlag{Name: "backend", Value: "go", Usage: "backend to run the network on (go, xla, xla:cuda, ...)"},
			dbFlag(),
		},
		Action: func(c *urfave.Context) error {
			return runFid(c.Context, fidOptionsFrom(c), globalOptionsFrom(c), c.Args().Slice())
		},
	})
}

// fidResult is what --format json prints.
type fidResult struct {
	FID      float64 `json:"fid,omitempty"`
	Dims     int     `json:"dims"`
	N        [2]int  `json:"n"`
	Weights  string  `json:"inception_sha256,omitempty"`
	Fallback bool    `json:"singular_fallback,omitempty"`
	Saved    string  `json:"saved,omitempty"`
}

func runFid(ctx context.Context, opts fidOptions, gopts globalOptions, args []string) error {
	if len(args) != 2 {
		return usagef("fid needs two paths, got %d (runner fid PATH PATH)", len(args))
	}
	want, err := inception.ForDims(opts.dims)
	if err != nil {
		return usagef("--dims: %v", err)
	}
	if opts.batch < 1 {
		return usagef("--batch %d: needs at least 1", opts.batch)
	}
	if opts.format != "text" && opts.format != "json" {
		return usagef("--format %q: text or json", opts.format)
	}
	if opts.saveStats {
		if !strings.HasSuffix(args[1], ".npz") {
			return usagef("--save-stats writes %s: the output must be an .npz", args[1])
		}
		if _, err := os.Stat(args[1]); err == nil {
			return usagef("--save-stats: %s exists; it is not overwritten", args[1])
		}
	}
	f := &fidFeaturizer{opts: opts, want: want, progress: gopts.stderr, errW: gopts.stderr}
	defer f.close()
	res := fidResult{Dims: opts.dims}
	var stats [2]npy.FIDStats
	for i, p := range args[:1+btoi(!opts.saveStats)] {
		s, n, err := f.statsOf(ctx, p)
		if err != nil {
			return err
		}
		stats[i], res.N[i] = s, n
	}
	if f.net != nil {
		res.Weights = f.net.Weights().SHA256
	}
	if opts.saveStats {
		if err := npy.WriteFIDStats(args[1], stats[0]); err != nil {
			return err
		}
		res.Saved = args[1]
		if opts.format == "json" {
			return json.NewEncoder(gopts.stdout).Encode(res)
		}
		fmt.Fprintf(gopts.stdout, "Saved statistics of %s (%d images, dims %d, inception sha256 %s) to %s\n", args[0], res.N[0], opts.dims, res.Weights, args[1])
		return nil
	}
	if stats[0].Dim() != stats[1].Dim() {
		return usagef("%s has %d features, %s %d: statistics of different dims are not compared", args[0], stats[0].Dim(), args[1], stats[1].Dim())
	}
	d := stats[0].Dim()
	res.FID, res.Fallback, err = metrics.FrechetDistance(stats[0].Mu, mat.NewSymDense(d, stats[0].Sigma), stats[1].Mu, mat.NewSymDense(d, stats[1].Sigma))
	if err != nil {
		return err
	}
	if opts.format == "json" {
		return json.NewEncoder(gopts.stdout).Encode(res)
	}
	if res.Fallback {
		fmt.Fprintf(gopts.stdout, "fid calculation produces singular product; adding %g to diagonal of cov estimates\n", metrics.FrechetEps)
	}
	if res.Weights != "" {
		fmt.Fprintf(gopts.stdout, "inception sha256 %s, dims %d\n", res.Weights, opts.dims)
	}
	fmt.Fprintf(gopts.stdout, "FID: %.6f\n", res.FID)
	return nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// fidFeaturizer computes a path's statistics, loading the network on first need (paths that
// are statistics need none).
type fidFeaturizer struct {
	opts     fidOptions
	want     inception.Output
	progress io.Writer
	errW     io.Writer
	b        *backend.Backend
	net      *inception.Net
	store    *results.Store
}

func (f *fidFeaturizer) close() {
	if f.store != nil {
		f.store.Close()
	}
	if f.net != nil {
		f.net.Finalize()
	}
	if f.b != nil {
		f.b.Finalize()
	}
}

func (f *fidFeaturizer) load() error {
	if f.net != nil {
		return nil
	}
	path, err := inception.Locate(f.opts.weights)
	if err != nil {
		return &usageError{msg: err.Error()}
	}
	w, err := inception.Load(path)
	if err != nil {
		return &usageError{msg: err.Error()}
	}
	if err := backend.Check(f.opts.backend); err != nil {
		return usagef("--backend: %v", err)
	}
	choice, err := backend.Parse(f.opts.backend)
	if err != nil {
		return usagef("--backend: %v", err)
	}
	if f.b, err = backend.New(choice); err != nil {
		return err
	}
	f.net = inception.New(f.b.GoMLX(), w)
	return nil
}

// statsOf reads or computes the statistics of one path and the number of images behind them
// (0 for an .npz of statistics).
func (f *fidFeaturizer) statsOf(ctx context.Context, p string) (npy.FIDStats, int, error) {
	st, err := os.Stat(p)
	if id, idErr := strconv.ParseInt(p, 10, 64); err != nil && idErr == nil && id > 0 {
		return f.runSamples(ctx, id)
	}
	if err != nil {
		return npy.FIDStats{}, 0, usagef("%s: %v", p, errors.Unwrap(err))
	}
	if st.IsDir() {
		files, err := inception.ListImages(p)
		if err != nil {
			return npy.FIDStats{}, 0, usagef("%s: %v", p, err)
		}
		if len(files) == 0 {
			return npy.FIDStats{}, 0, usagef("%s: no images (%s)", p, strings.Join(inception.ImageExtensions, ", "))
		}
		return f.stream(ctx, p, len(files), func(i int) ([]float32, int, int, int, error) {
			img, h, w, err := inception.LoadImage(files[i])
			return img, h, w, 3, err
		})
	}
	if !strings.HasSuffix(p, ".npz") {
		return npy.FIDStats{}, 0, usagef("%s: not a folder of images or an .npz", p)
	}
	z, err := npy.OpenNPZ(p)
	if err != nil {
		return npy.FIDStats{}, 0, usagef("%v", err)
	}
	z.Close()
	if s, err := npy.ReadFIDStats(p); err == nil {
		if s.Dim() != f.opts.dims {
			return npy.FIDStats{}, 0, usagef("%s holds statistics of %d features; --dims is %d", p, s.Dim(), f.opts.dims)
		}
		return s, 0, nil
	}
	px, shape, err := npy.ReadSamples(p)
	if err != nil {
		return npy.FIDStats{}, 0, usagef("%s is neither pytorch-fid statistics (mu, sigma) nor samples (arr_0 uint8 NHWC): %v", p, err)
	}
	return f.samples(ctx, p, px, shape)
}

// maxSamplesBytes bounds a run's samples.npz read into memory: 50,000 samples of 128x128 RGB.
const maxSamplesBytes = 50000 * 128 * 128 * 3

// runSamples is the statistics of the samples a run of --db wrote (its samples.npz artifact,
// read through the store's confined reading: the artifact row and the run's folder must not
// lead outside the run's folder).
func (f *fidFeaturizer) runSamples(ctx context.Context, id int64) (npy.FIDStats, int, error) {
	if f.store == nil {
		s, err := openForRuns(f.opts.db, f.errW, true)
		if err != nil {
			return npy.FIDStats{}, 0, err
		}
		f.store = s
	}
	if _, err := f.store.Run(id); err != nil {
		return npy.FIDStats{}, 0, usagef("%v", err)
	}
	b, err := f.store.ReadArtifact(id, results.SamplesNPZArtifact, maxSamplesBytes)
	if errors.Is(err, results.ErrNoArtifact) {
		return npy.FIDStats{}, 0, usagef("run %d has no %s (runs of image data write one when they sample)", id, results.SamplesNPZArtifact)
	}
	if err != nil {
		return npy.FIDStats{}, 0, usagef("%v", err)
	}
	what := fmt.Sprintf("run %d's %s", id, results.SamplesNPZArtifact)
	z, err := npy.NPZFromBytes(what, b)
	if err != nil {
		return npy.FIDStats{}, 0, usagef("%v", err)
	}
	defer z.Close()
	px, shape, err := npy.ReadSamplesFrom(z)
	if err != nil {
		return npy.FIDStats{}, 0, usagef("%v", err)
	}
	return f.samples(ctx, what, px, shape)
}

// samples is the statistics of uint8 images [N, H, W, C].
func (f *fidFeaturizer) samples(ctx context.Context, what string, px []uint8, shape []int) (npy.FIDStats, int, error) {
	n, h, w, c := shape[0], shape[1], shape[2], shape[3]
	if c != 1 && c != 3 {
		return npy.FIDStats{}, 0, usagef("%s: arr_0 has %d channels; 1 or 3 are images", what, c)
	}
	return f.stream(ctx, what, n, func(i int) ([]float32, int, int, int, error) {
		img := make([]float32, h*w*c)
		for k, v := range px[i*h*w*c : (i+1)*h*w*c] {
			img[k] = float32(v) / 255
		}
		return img, h, w, c, nil
	})
}

// stream runs n images through the network in batches, merging their features into the
// statistics as they come (never holding all of them).
func (f *fidFeaturizer) stream(ctx context.Context, what string, n int, image func(int) ([]float32, int, int, int, error)) (npy.FIDStats, int, error) {
	if err := f.load(); err != nil {
		return npy.FIDStats{}, 0, err
	}
	if n < 2 {
		return npy.FIDStats{}, 0, usagef("%s: %d image; a covariance needs at least 2", what, n)
	}
	acc := metrics.NewFeatureStats(f.want.Size())
	bar := newFidBar(f.progress, what, n)
	last := 0
	err := f.net.Stream(ctx, n, f.opts.batch, f.want, func(i int) ([]float32, int, int, int, error) {
		img, h, w, c, err := image(i)
		if err != nil {
			return nil, 0, 0, 0, usagef("%v", err)
		}
		if c != 1 && c != 3 {
			return nil, 0, 0, 0, usagef("%s: image %d has %d channels; 1 or 3 are images", what, i, c)
		}
		return img, h, w, c, nil
	}, func(out map[inception.Output][]float32, _ int) error {
		return acc.Add(out[f.want])
	}, func(done int) {
		bar.add(done - last)
		last = done
	})
	if err != nil {
		return npy.FIDStats{}, 0, err
	}
	bar.done()
	cov, err := acc.Cov()
	if err != nil {
		return npy.FIDStats{}, 0, err
	}
	d := f.want.Size()
	sigma := make([]float64, d*d)
	for i := range d {
		for j := range d {
			sigma[i*d+j] = cov.At(i, j)
		}
	}
	return npy.FIDStats{Mu: acc.Mean(), Sigma: sigma}, n, nil
}

// fidBar is a progress bar with ETA on a terminal, nothing otherwise.
type fidBar struct{ bar *progressbar.ProgressBar }

func newFidBar(w io.Writer, what string, n int) fidBar {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return fidBar{progressbar.NewOptions(n, progressbar.OptionSetWriter(w), progressbar.OptionSetDescription(what),
			progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("images"),
			progressbar.OptionSetPredictTime(true), progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())}
	}
	return fidBar{}
}

func (b fidBar) add(k int) {
	if b.bar != nil {
		_ = b.bar.Add(k)
	}
}

func (b fidBar) done() {
	if b.bar != nil {
		_ = b.bar.Finish()
	}
}
