package metrics

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"weak"

	"gonum.org/v1/gonum/mat"

	"github.com/ddpm-runner/ddpm-runner/featurizer/inception"
	"github.com/ddpm-runner/ddpm-runner/internal/digest"
	"github.com/ddpm-runner/ddpm-runner/interop/npy"
	"github.com/ddpm-runner/ddpm-runner/plugins"
)

// The Inception metrics: FID, IS, KID, precision/recall and the spatial FID on the features
// of pytorch-fid's FID Inception (featurizer/inception), as the field reports them for image
// data that are not MNIST-shaped. The samples are read as the uint8 images of samples.npz
// (npy.SamplePixels: what `runner fid` and every FID tool read), the data as the 8-bit
// images they are (npy.DataPixel); both through pytorch-fid's preprocessing. Each set's
// features are reduced batch by batch (FeatureStats, the Inception Score's per-split sums)
// and only the first inceptionRows pool3 vectors are kept, for KID and precision/recall, so
// 50,000 samples need the statistics' d x d co-moments and not their features.
//
// The reference is eval.n examples of the data split eval.reference_split (the training
// split by default, DDPM's convention), or for the FIDs a pytorch-fid statistics file
// (eval.reference). A reference split's summary is computed once per (split, examples, their
// content, weights) and kept in the database's artifact folder (EvalInput.CacheDir), so
// 50,000 training images go through the Inception once per database, not once per run.

// Featurizer choices ([eval] featurizer).
const (
	FeaturizerAuto       = "auto"
	FeaturizerClassifier = "classifier"
	FeaturizerInception  = "inception"
)

// inceptionBatch is the images per Inception forward pass (pytorch-fid's default).
const inceptionBatch = 50

// inceptionRows is how many pool3 vectors of a set KID and precision/recall use (its first
// ones): precision/recall's pairwise distances grow with the square of it.
const inceptionRows = 5000

// isSplits is the Inception Score's number of splits (Salimans et al.).
const isSplits = 10

// mnistShaped says whether images of this layout are what the shipped classifiers read: one
// channel, square, a side that divides 28.
func mnistShaped(h, w, c int) bool { return c == 1 && h == w && h > 0 && 28%h == 0 }

// inceptionChoice is what a metric was prepared with when it runs on the Inception.
type inceptionChoice struct {
	weights *inception.Weights
	split   string
	// file is eval.reference's statistics; nil for the data's.
	file *referenceFile
}

// referenceFile is a pytorch-fid statistics file given as eval.reference.
type referenceFile struct {
	path, sha256 string
	pool         npy.FIDStats
	spatial      *npy.FIDStats // nil where the file has no mu_s and sigma_s
}

// loadedWeights holds the Inception weights by path once loaded: trials of a sweep share them.
var loadedWeights = struct {
	sync.Mutex
	byPath map[string]*inception.Weights
}{byPath: map[string]*inception.Weights{}}

func loadInception(flag string) (*inception.Weights, error) {
	path, err := inception.Locate(flag)
	if err != nil {
		return nil, err
	}
	loadedWeights.Lock()
	defer loadedWeights.Unlock()
	if w, ok := loadedWeights.byPath[path]; ok {
		return w, nil
	}
	w, err := inception.Load(path)
	if err != nil {
		return nil, err
	}
	loadedWeights.byPath[path] = w
	return w, nil
}

// prepareFeatures decides the features a metric runs on: nil for the shipped classifier, else
// the Inception with its weights and reference, loaded now so that a missing file refuses
// the run before it trains. forceInception is set for the inception_* metrics.
func prepareFeatures(s plugins.MetricSetup, forceInception bool) (*inceptionChoice, error) {
	choice := s.Featurizer
	if forceInception {
		choice = FeaturizerInception
	}
	switch choice {
	case "", FeaturizerAuto:
		if s.H == 0 || mnistShaped(s.H, s.W, s.C) {
			// Data that are not images keep the classifier, which refuses them when it runs.
			return nil, nil
		}
	case FeaturizerClassifier:
		if s.H != 0 && !mnistShaped(s.H, s.W, s.C) {
			return nil, fmt.Errorf(`[eval] featurizer = "classifier": the shipped classifiers read one-channel square images `+
				`whose side divides 28, the data are %dx%dx%d (use "inception" or "auto")`, s.H, s.W, s.C)
		}
		return nil, nil
	case FeaturizerInception:
	default:
		return nil, fmt.Errorf(`[eval] featurizer = %q: want "auto", "classifier" or "inception"`, choice)
	}
	if s.H == 0 {
		return nil, errors.New("the Inception reads images; the data are not images")
	}
	if s.C != 1 && s.C != 3 {
		return nil, fmt.Errorf("the Inception reads grey or RGB images; the data have %d channels", s.C)
	}
	w, err := loadInception(s.Inception)
	if err != nil {
		if s.Inception == "" {
			return nil, fmt.Errorf(`%w (in a spec: [eval] inception = "FILE")`, err)
		}
		return nil, err
	}
	c := &inceptionChoice{weights: w, split: s.ReferenceSplit}
	if c.split == "" {
		c.split = "train"
	}
	if c.split != "train" && c.split != "test" {
		return nil, fmt.Errorf(`[eval] reference_split = %q: want "train" or "test"`, c.split)
	}
	if s.Reference != "" {
		if c.file, err = readReferenceFile(s.Reference); err != nil {
			return nil, fmt.Errorf("[eval] reference: %w", err)
		}
	}
	return c, nil
}

func readReferenceFile(path string) (*referenceFile, error) {
	sum, err := digest.File(path)
	if err != nil {
		return nil, err
	}
	pool, err := npy.ReadFIDStats(path)
	if err != nil {
		return nil, err
	}
	if pool.Dim() != 2048 {
		return nil, fmt.Errorf("%s holds statistics of %d features; the Inception FID's are of its 2048 pool3 features", path, pool.Dim())
	}
	f := &referenceFile{path: path, sha256: sum, pool: pool}
	z, err := npy.OpenNPZ(path)
	if err != nil {
		return nil, err
	}
	names := z.Names()
	z.Close()
	if slices.Contains(names, "mu_s") {
		sp, err := npy.ReadFIDStatsOf(path, "mu_s", "sigma_s")
		if err != nil {
			return nil, err
		}
		if sp.Dim() != inception.Spatial.Size() {
			return nil, fmt.Errorf("%s: mu_s has %d values; the spatial FID's features are %d", path, sp.Dim(), inception.Spatial.Size())
		}
		f.spatial = &sp
	}
	return f, nil
}

// summary is what the Inception metrics need of one set of images.
type summary struct {
	n                 int
	poolMu, spatialMu []float64
	poolCov, spCov    *mat.SymDense
	// rows are the first inceptionRows pool3 vectors (float32, as the network gives them).
	rows []float32
	// is are the Inception Score's per-split scores.
	is []float64
}

// rowsDense is the summary's pool3 vectors as a matrix.
func (s *summary) rowsDense() *mat.Dense { return toDense(s.rows, 2048) }

// isAccumulator sums what the Inception Score needs of each split as the batches come: the
// split's class-probability column sums and its sum of p log p, whose difference with the
// column sums' p log p(y) is the split's summed KL divergence.
type isAccumulator struct {
	n, seen int
	bounds  []int // split k is images [bounds[k], bounds[k+1])
	colsum  [][]float64
	plogp   []float64
}

func newISAccumulator(n int) *isAccumulator {
	s := min(isSplits, n)
	a := &isAccumulator{n: n, colsum: make([][]float64, s), plogp: make([]float64, s)}
	for k := 0; k <= s; k++ {
		a.bounds = append(a.bounds, k*n/s) // improved-gan's part boundaries
	}
	for k := range a.colsum {
		a.colsum[k] = make([]float64, inception.Logits)
	}
	return a
}

// add takes the unbiased logits of the next images (count x Logits).
func (a *isAccumulator) add(logits []float64) {
	p := make([]float64, inception.Logits)
	for r := 0; r < len(logits); r += inception.Logits {
		row := logits[r : r+inception.Logits]
		k := 0
		for a.seen >= a.bounds[k+1] {
			k++
		}
		softmax(row, p)
		for j, v := range p {
			a.colsum[k][j] += v
			if v > 0 {
				a.plogp[k] += v * math.Log(v)
			}
		}
		a.seen++
	}
}

// scores are each split's exp(E KL(p(y|x) || p(y))).
func (a *isAccumulator) scores() []float64 {
	out := make([]float64, len(a.plogp))
	for k := range out {
		size := float64(a.bounds[k+1] - a.bounds[k])
		kl := a.plogp[k]
		for _, c := range a.colsum[k] {
			if c > 0 {
				kl -= c * math.Log(c/size)
			}
		}
		out[k] = math.Exp(kl / size)
	}
	return out
}

func softmax(x, out []float64) {
	m := slices.Max(x)
	var s float64
	for i, v := range x {
		out[i] = math.Exp(v - m)
		s += out[i]
	}
	for i := range out {
		out[i] /= s
	}
}

// meanStd is the mean and the (population, as numpy's std) standard deviation.
func meanStd(v []float64) (mean, std float64) {
	for _, x := range v {
		mean += x / float64(len(v))
	}
	for _, x := range v {
		std += (x - mean) * (x - mean) / float64(len(v))
	}
	return mean, math.Sqrt(std)
}

// summarize runs n images [n, h, w, c] of values in [-1, 1] through the network and reduces
// their features. samples says the images are a model's samples (read as samples.npz holds
// them) rather than 8-bit data.
func summarize(ctx context.Context, net *inception.Net, x []float32, h, w, c int, samples bool) (*summary, error) {
	d := h * w * c
	n := len(x) / d
	if n < 2 {
		return nil, fmt.Errorf("%d image; a covariance needs at least 2", n)
	}
	pool := NewFeatureStats(2048)
	sp := NewFeatureStats(inception.Spatial.Size())
	is := newISAccumulator(n)
	var rows []float32
	image := func(i int) ([]float32, int, int, int, error) {
		img := make([]float32, d)
		for k, v := range x[i*d : (i+1)*d] {
			if samples {
				img[k] = float32(npy.SamplePixel(v)) / 255
			} else {
				img[k] = float32(npy.DataPixel(v)) / 255
			}
		}
		return img, h, w, c, nil
	}
	err := net.Stream(ctx, n, inceptionBatch, inception.Pool3|inception.Spatial, image,
		func(out map[inception.Output][]float32, count int) error {
			if err := pool.Add(out[inception.Pool3]); err != nil {
				return err
			}
			if err := sp.Add(out[inception.Spatial]); err != nil {
				return err
			}
			is.add(net.Weights().UnbiasedLogits(out[inception.Pool3]))
			if keep := inceptionRows*2048 - len(rows); keep > 0 {
				rows = append(rows, out[inception.Pool3][:min(keep, len(out[inception.Pool3]))]...)
			}
			return nil
		}, nil)
	if err != nil {
		return nil, err
	}
	s := &summary{n: n, poolMu: pool.Mean(), spatialMu: sp.Mean(), rows: rows, is: is.scores()}
	if s.poolCov, err = pool.Cov(); err != nil {
		return nil, err
	}
	if s.spCov, err = sp.Cov(); err != nil {
		return nil, err
	}
	return s, nil
}

// summaryVersion names the layout of a cached summary; a change to what summarize computes
// changes it, so that no summary of the old kind is read.
const summaryVersion = "ddpm-runner inception summary v1"

// setDigest identifies a set of 8-bit examples whatever their order: the sha256 of their
// sorted per-example sha256 (of the bytes they came from). The training reference's order
// follows the run's seed; its content, at eval.n = the split's size, does not.
func setDigest(x []float32, d int) string {
	n := len(x) / d
	sums := make([][32]byte, n)
	px := make([]byte, d)
	for i := range n {
		for k, v := range x[i*d : (i+1)*d] {
			px[k] = npy.DataPixel(v)
		}
		sums[i] = sha256.Sum256(px)
	}
	slices.SortFunc(sums, func(a, b [32]byte) int { return slices.Compare(a[:], b[:]) })
	h := sha256.New()
	for _, s := range sums {
		h.Write(s[:])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// memo keeps the summaries computed in this process: of the samples of the evaluation under
// way (every Inception metric of a run reads them) and of reference sets, by key.
// Slices are known by weak pointers to their first element, so that the memo keeps no
// evaluation's examples alive and a new slice at a reused address is not taken for an old one.
var memo = struct {
	sync.Mutex
	samplesOf weak.Pointer[float32]
	samplesN  int
	samplesW  string
	samples   *summary
	refs      map[string]*summary
	digests   map[digestKey]string
}{refs: map[string]*summary{}, digests: map[digestKey]string{}}

type digestKey struct {
	first weak.Pointer[float32]
	n     int
}

// samplesSummary is the summary of the evaluation's samples, computed once for all of its
// Inception metrics.
func (c *inceptionChoice) samplesSummary(in plugins.EvalInput) (*summary, error) {
	memo.Lock()
	defer memo.Unlock()
	if len(in.Samples) == 0 {
		return nil, errors.New("no samples")
	}
	first := weak.Make(&in.Samples[0])
	if memo.samples != nil && memo.samplesOf == first && memo.samplesN == len(in.Samples) && memo.samplesW == c.weights.SHA256 {
		return memo.samples, nil
	}
	net, err := c.net(in)
	if err != nil {
		return nil, err
	}
	defer net.Finalize()
	s, err := summarize(in.Context, net, in.Samples, in.H, in.W, in.C, true)
	if err != nil {
		return nil, fmt.Errorf("samples: %w", err)
	}
	memo.samplesOf, memo.samplesN, memo.samplesW, memo.samples = first, len(in.Samples), c.weights.SHA256, s
	return s, nil
}

func (c *inceptionChoice) net(in plugins.EvalInput) (*inception.Net, error) {
	if in.Backend == nil {
		return nil, errors.New("the Inception needs a backend to run on, and the evaluation gives none")
	}
	if in.H == 0 || (in.C != 1 && in.C != 3) {
		return nil, fmt.Errorf("the Inception reads grey or RGB images; data are %dx%dx%d", in.H, in.W, in.C)
	}
	return inception.New(in.Backend, c.weights), nil
}

// splitSummary is the summary of one data split of the evaluation ("train": in.Train, "test":
// in.HeldOut), read from the cache folder when it was computed before, else computed and
// kept there. It also returns the set's description for the values' notes.
func (c *inceptionChoice) splitSummary(in plugins.EvalInput, split string) (*summary, string, error) {
	d := in.H * in.W * in.C
	x := in.Train
	if split == "test" {
		x = in.HeldOut
	} else if d > 0 && in.N > len(in.Train)/d && in.TrainExamples != nil {
		// The training split at eval.n, beyond the held-out split's size.
		x = in.TrainExamples(in.N)
	}
	if d == 0 || len(x) < 2*d {
		return nil, "", fmt.Errorf("the %s split gives %d examples; a reference needs at least 2", split, len(x)/max(d, 1))
	}
	n := len(x) / d
	memo.Lock()
	defer memo.Unlock()
	dk := digestKey{weak.Make(&x[0]), len(x)}
	digest, ok := memo.digests[dk]
	if !ok {
		digest = setDigest(x, d)
		for k := range memo.digests {
			if k.first.Value() == nil {
				delete(memo.digests, k)
			}
		}
		memo.digests[dk] = digest
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%dx%dx%d\x00%d\x00%s", summaryVersion, c.weights.SHA256, split, in.H, in.W, in.C, n, digest)
	key := hex.EncodeToString(h.Sum(nil))
	what := fmt.Sprintf("%s split, %d examples (set %s)", split, n, digest[:12])
	if s, ok := memo.refs[key]; ok {
		return s, what, nil
	}
	var file string
	if in.CacheDir != "" {
		file = filepath.Join(in.CacheDir, fmt.Sprintf("inception-%s-%d-%s.npz", split, n, key[:16]))
		if s, err := readSummary(file, n); err == nil {
			memo.refs[key] = s
			return s, what, nil
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, "", fmt.Errorf("cached reference %s: %w (remove it to compute it again)", file, err)
		}
	}
	net, err := c.net(in)
	if err != nil {
		return nil, "", err
	}
	defer net.Finalize()
	s, err := summarize(in.Context, net, x, in.H, in.W, in.C, false)
	if err != nil {
		return nil, "", fmt.Errorf("%s split: %w", split, err)
	}
	if file != "" {
		if err := os.MkdirAll(in.CacheDir, 0o755); err != nil {
			return nil, "", err
		}
		if err := writeSummary(file, s); err != nil {
			return nil, "", err
		}
	}
	memo.refs[key] = s
	return s, what, nil
}

// writeSummary keeps a summary as an .npz whose mu and sigma are pytorch-fid's statistics
// (and mu_s, sigma_s guided-diffusion's spatial ones), so the file serves as eval.reference
// or `runner fid` input too.
func writeSummary(path string, s *summary) error {
	sym := func(m *mat.SymDense) []float64 {
		d := m.SymmetricDim()
		out := make([]float64, d*d)
		for i := range d {
			for j := range d {
				out[i*d+j] = m.At(i, j)
			}
		}
		return out
	}
	d, ds := len(s.poolMu), len(s.spatialMu)
	return npy.WriteNPZ(path,
		npy.Of("mu", s.poolMu, d), npy.Of("sigma", sym(s.poolCov), d, d),
		npy.Of("mu_s", s.spatialMu, ds), npy.Of("sigma_s", sym(s.spCov), ds, ds),
		npy.Of("rows", s.rows, len(s.rows)/2048, 2048),
		npy.Of("is_splits", s.is, len(s.is)),
		npy.Of("n", []float64{float64(s.n)}, 1))
}

// readSummary reads a summary writeSummary kept; a file that is not a regular file (a
// symlink planted in the cache folder) is refused.
func readSummary(path string, n int) (*summary, error) {
	st, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file (%s)", st.Mode().Type())
	}
	pool, err := npy.ReadFIDStats(path)
	if err != nil {
		return nil, err
	}
	sp, err := npy.ReadFIDStatsOf(path, "mu_s", "sigma_s")
	if err != nil {
		return nil, err
	}
	z, err := npy.OpenNPZ(path)
	if err != nil {
		return nil, err
	}
	defer z.Close()
	rows, _, err := npy.ReadNPZ[float32](z, "rows", npy.Any, 2048)
	if err != nil {
		return nil, err
	}
	is, _, err := npy.ReadNPZ[float64](z, "is_splits", npy.Any)
	if err != nil {
		return nil, err
	}
	count, _, err := npy.ReadNPZ[float64](z, "n", 1)
	if err != nil {
		return nil, err
	}
	if int(count[0]) != n || len(pool.Mu) != 2048 || sp.Dim() != inception.Spatial.Size() {
		return nil, fmt.Errorf("holds a summary of %g examples of %d and %d features, not %d of 2048 and %d", count[0], len(pool.Mu), sp.Dim(), n, inception.Spatial.Size())
	}
	return &summary{n: n, poolMu: pool.Mu, poolCov: mat.NewSymDense(2048, pool.Sigma), spatialMu: sp.Mu,
		spCov: mat.NewSymDense(sp.Dim(), sp.Sigma), rows: rows, is: is}, nil
}

// otherSplit is the split the data floor compares with the reference.
func otherSplit(split string) string {
	if split == "train" {
		return "test"
	}
	return "train"
}

// notes are the provenance every Inception value records: the weights (the featurizer term
// that keeps values of different weights apart) and the reference.
func (c *inceptionChoice) notes(reference string) map[string]string {
	return map[string]string{"featurizer": c.weights.ID(), "inception_sha256": c.weights.SHA256, "reference": reference}
}

// fileNote describes eval.reference for the notes.
func (f *referenceFile) note() string {
	return fmt.Sprintf("file %s (sha256 %s)", filepath.Base(f.path), f.sha256[:12])
}

// inceptionFID is the FID of the samples against the reference (prefix names the values:
// "" for fid, "inception_" for inception_fid), and as the data floor the other split's FID
// against it. spatial selects guided-diffusion's spatial features (sfid).
func (c *inceptionChoice) fid(in plugins.EvalInput, prefix, key string, spatial bool) (plugins.EvalResult, error) {
	samples, err := c.samplesSummary(in)
	if err != nil {
		return plugins.EvalResult{}, err
	}
	stats := func(s *summary) ([]float64, *mat.SymDense) {
		if spatial {
			return s.spatialMu, s.spCov
		}
		return s.poolMu, s.poolCov
	}
	var refMu []float64
	var refCov *mat.SymDense
	var refNote string
	floorSplit := otherSplit(c.split)
	switch {
	case c.file != nil && (!spatial || c.file.spatial != nil):
		st := c.file.pool
		if spatial {
			st = *c.file.spatial
		}
		refMu, refCov, refNote = st.Mu, mat.NewSymDense(st.Dim(), st.Sigma), c.file.note()
		floorSplit = "test" // held-out data against the published statistics
	default:
		ref, what, err := c.splitSummary(in, c.split)
		if err != nil {
			return plugins.EvalResult{}, err
		}
		refMu, refCov = stats(ref)
		refNote = what
	}
	mu, cov := stats(samples)
	v, _, err := FrechetDistance(mu, cov, refMu, refCov)
	if err != nil {
		return plugins.EvalResult{}, err
	}
	floorSet, _, err := c.splitSummary(in, floorSplit)
	if err != nil {
		return plugins.EvalResult{}, err
	}
	fm, fc := stats(floorSet)
	floor, _, err := FrechetDistance(fm, fc, refMu, refCov)
	if err != nil {
		return plugins.EvalResult{}, err
	}
	return plugins.EvalResult{Values: map[string]float64{prefix + key: v, prefix + key + "_data_floor": floor},
		Notes: c.notes(refNote)}, nil
}

// is is the Inception Score of the samples (mean and standard deviation over the splits)
// and of the reference split's data.
func (c *inceptionChoice) is(in plugins.EvalInput, prefix string) (plugins.EvalResult, error) {
	samples, err := c.samplesSummary(in)
	if err != nil {
		return plugins.EvalResult{}, err
	}
	ref, what, err := c.splitSummary(in, c.split)
	if err != nil {
		return plugins.EvalResult{}, err
	}
	mean, std := meanStd(samples.is)
	data, _ := meanStd(ref.is)
	return plugins.EvalResult{Values: map[string]float64{prefix + "is": mean, prefix + "is_std": std, prefix + "is_data": data},
		Notes: c.notes(what)}, nil
}

// kid is the KID of the samples' pool3 features against the reference split's (the existing
// KernelDistance), and the other split's as the floor.
func (c *inceptionChoice) kid(in plugins.EvalInput, prefix string) (plugins.EvalResult, error) {
	samples, ref, floor, what, err := c.rowSets(in)
	if err != nil {
		return plugins.EvalResult{}, err
	}
	kid, se := KernelDistance(samples, ref, kidSubsets, kidSubsetSize)
	fl, _ := KernelDistance(floor, ref, kidSubsets, kidSubsetSize)
	return plugins.EvalResult{Values: map[string]float64{prefix + "kid": kid, prefix + "kid_se": se, prefix + "kid_data_floor": fl},
		Notes: c.notes(what)}, nil
}

// precisionRecall is improved precision and recall (k = 3) of the samples' pool3 features
// against the reference split's, and the other split's as the floor.
func (c *inceptionChoice) precisionRecall(in plugins.EvalInput, prefix string) (plugins.EvalResult, error) {
	samples, ref, floor, what, err := c.rowSets(in)
	if err != nil {
		return plugins.EvalResult{}, err
	}
	p, r := ManifoldPrecisionRecall(ref, samples, precisionRecallK)
	pf, rf := ManifoldPrecisionRecall(ref, floor, precisionRecallK)
	return plugins.EvalResult{Values: map[string]float64{prefix + "precision": p, prefix + "recall": r,
		prefix + "precision_data_floor": pf, prefix + "recall_data_floor": rf}, Notes: c.notes(what)}, nil
}

// rowSets are the pool3 vectors of the samples, the reference split and the other split.
func (c *inceptionChoice) rowSets(in plugins.EvalInput) (samples, ref, floor *mat.Dense, what string, err error) {
	s, err := c.samplesSummary(in)
	if err != nil {
		return nil, nil, nil, "", err
	}
	r, what, err := c.splitSummary(in, c.split)
	if err != nil {
		return nil, nil, nil, "", err
	}
	f, _, err := c.splitSummary(in, otherSplit(c.split))
	if err != nil {
		return nil, nil, nil, "", err
	}
	return s.rowsDense(), r.rowsDense(), f.rowsDense(), what, nil
}

// inceptionMetric is one of the inception_* metrics: always on the Inception, whatever
// [eval] featurizer says.
type inceptionMetric struct {
	kind string // fid, sfid, is, kid, pr
	inc  *inceptionChoice
}

// Prepare implements plugins.PreparedMetric.
func (m *inceptionMetric) Prepare(s plugins.MetricSetup) error {
	inc, err := prepareFeatures(s, true)
	m.inc = inc
	if err == nil && m.kind == "sfid" && inc.file != nil && inc.file.spatial == nil {
		// The spatial FID then compares with the data split: say so rather than mix silently.
		return fmt.Errorf("[eval] reference %s has no spatial statistics (mu_s, sigma_s) for inception_sfid; "+
			"drop inception_sfid or give a file that has them", inc.file.path)
	}
	return err
}

// Evaluate implements plugins.Metric.
func (m *inceptionMetric) Evaluate(in plugins.EvalInput) (plugins.EvalResult, error) {
	if m.inc == nil {
		return plugins.EvalResult{}, fmt.Errorf("inception_%s was not prepared (its weights are loaded when the run is prepared)", m.kind)
	}
	switch m.kind {
	case "fid":
		return m.inc.fid(in, "inception_", "fid", false)
	case "sfid":
		return m.inc.fid(in, "inception_", "sfid", true)
	case "is":
		return m.inc.is(in, "inception_")
	case "kid":
		return m.inc.kid(in, "inception_")
	}
	return m.inc.precisionRecall(in, "inception_")
}

func init() {
	newMetric := func(kind string) func(plugins.Values) (plugins.Metric, error) {
		return func(plugins.Values) (plugins.Metric, error) { return &inceptionMetric{kind: kind}, nil }
	}
	const ref = " against the reference (eval.reference_split of the data, or eval.reference)"
	plugins.Register(plugins.Plugin{Kind: plugins.KindMetric, Name: "inception_fid",
		Doc:     "FID as pytorch-fid computes it: Fréchet distance of the FID Inception's 2048 pool3 features of the samples" + ref + "; the weights' sha256 is recorded",
		Reports: distanceReports("inception_fid", "FID (Inception pool3 features)"+ref, "squared feature units"),
		New:     newMetric("fid")})
	plugins.Register(plugins.Plugin{Kind: plugins.KindMetric, Name: "inception_sfid",
		Doc:     "spatial FID (Nash et al. 2021, as guided-diffusion's evaluator): Fréchet distance of the first 7 channels of mixed_6/conv (Mixed_6d's 1x1 branch) at 17x17, 2023 features" + ref,
		Reports: distanceReports("inception_sfid", "spatial FID (mixed_6/conv's first 7 channels)"+ref, "squared feature units"),
		New:     newMetric("sfid")})
	plugins.Register(plugins.Plugin{Kind: plugins.KindMetric, Name: "inception_is",
		Doc: "Inception Score as Salimans et al.'s inception_score (and guided-diffusion's evaluator): softmax of the FID Inception's 1008 logits without the classifier's bias, 10 splits in order, mean and standard deviation",
		Reports: []plugins.Report{
			{Key: "inception_is", Better: plugins.HigherIsBetter, Unit: "classes", From: plugins.FromSamples, Doc: "Inception Score of the samples, mean over 10 splits"},
			{Key: "inception_is_std", Unit: "classes", From: plugins.FromSamples, Doc: "standard deviation of the Inception Score over its 10 splits (numpy's std)"},
			{Key: "inception_is_data", Unit: "classes", From: plugins.FromSamples, Doc: "Inception Score of the reference split's data"},
		},
		New: newMetric("is")})
	plugins.Register(plugins.Plugin{Kind: plugins.KindMetric, Name: "inception_kid",
		Doc: fmt.Sprintf("KID of the FID Inception's pool3 features (the first %d of each set)%s, cubic kernel, mean and standard error over %d subsets", inceptionRows, ref, kidSubsets),
		Reports: append(distanceReports("inception_kid", "KID (Inception pool3 features)"+ref, "squared kernel units"),
			plugins.Report{Key: "inception_kid_se", Unit: "squared kernel units", From: plugins.FromSamples, Doc: "standard error of inception_kid over its random subsets"}),
		New: newMetric("kid")})
	plugins.Register(plugins.Plugin{Kind: plugins.KindMetric, Name: "inception_pr",
		Doc: fmt.Sprintf("improved precision and recall (k = 3, as guided-diffusion's evaluator) of the FID Inception's pool3 features (the first %d of each set)%s", inceptionRows, ref),
		Reports: []plugins.Report{
			{Key: "inception_precision", Better: plugins.HigherIsBetter, Unit: "fraction", From: plugins.FromSamples, Doc: "share of samples inside the reference's k-NN manifold (Inception features)"},
			{Key: "inception_recall", Better: plugins.HigherIsBetter, Unit: "fraction", From: plugins.FromSamples, Doc: "share of the reference inside the samples' k-NN manifold (Inception features)"},
			{Key: "inception_precision_data_floor", Unit: "fraction", From: plugins.FromSamples, Doc: "precision of the other split against the reference"},
			{Key: "inception_recall_data_floor", Unit: "fraction", From: plugins.FromSamples, Doc: "recall of the other split against the reference"},
		},
		New: newMetric("pr")})
}
