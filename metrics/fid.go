package metrics

import (
	"fmt"
	"math"
	"sync"

	"gonum.org/v1/gonum/mat"

	"github.com/ddpm-runner/ddpm-runner/featurizer"
	"github.com/ddpm-runner/ddpm-runner/plugins"
)

// loaded holds each shipped classifier once it is loaded, by name.
var loaded = struct {
	sync.Mutex
	models map[string]*featurizer.Model
}{models: map[string]*featurizer.Model{}}

// classifier is the shipped classifier for the data a metric is given: the one the dataset
// names (plugins.FeaturizedData; Fashion-MNIST's for Fashion-MNIST), else MNIST's. Its ID
// goes into every value's notes, so values from different classifiers are never compared.
func classifier(in plugins.EvalInput) (*featurizer.Model, error) {
	name := in.Featurizer
	if name == "" {
		name = featurizer.MNIST
	}
	loaded.Lock()
	defer loaded.Unlock()
	if m, ok := loaded.models[name]; ok {
		return m, nil
	}
	m, err := featurizer.ShippedNamed(name)
	if err != nil {
		return nil, err
	}
	loaded.models[name] = m
	return m, nil
}

// toMNIST brings images to the classifier's input: 28x28, one channel. Smaller MNIST
// variants (side dividing 28) are scaled up by repeating pixels.
func toMNIST(in plugins.EvalInput, x []float32) ([]float32, error) {
	if in.C != 1 || in.H != in.W || in.H == 0 || 28%in.H != 0 {
		return nil, fmt.Errorf("needs one-channel square images whose side divides 28 (MNIST and its downsampled variants); "+
			"data are %dx%dx%d", in.H, in.W, in.C)
	}
	if in.H == 28 {
		return x, nil
	}
	f := 28 / in.H
	d := in.H * in.W
	n := len(x) / d
	out := make([]float32, n*784)
	for i := range n {
		for y := range 28 {
			for xx := range 28 {
				out[i*784+y*28+xx] = x[i*d+(y/f)*in.W+xx/f]
			}
		}
	}
	return out, nil
}

// FeatureFrechet is the Fréchet distance between Gaussians fitted to two sets of features.
func FeatureFrechet(a, b *mat.Dense) (float64, error) {
	muA, covA := meanCov(a)
	muB, covB := meanCov(b)
	return frechetFromStats(muA, covA, muB, covB)
}

// features is what a classifier metric (fid, is, kid, precision_recall) runs on: the data's
// shipped classifier, or the FID Inception where [eval] featurizer chooses it (the default
// for images that are not MNIST-shaped), decided when the run is prepared.
type features struct {
	inc *inceptionChoice
}

// Prepare implements plugins.PreparedMetric.
func (f *features) Prepare(s plugins.MetricSetup) error {
	inc, err := prepareFeatures(s, false)
	f.inc = inc
	return err
}

// FID is the FID-style distance: the Fréchet distance between the data's classifier's
// features of the samples and of held-out data, with the same distance between training
// and held-out data as the floor a perfect model would reach. On the Inception it is
// inception_fid's value.
type FID struct{ features }

// Evaluate implements plugins.Metric.
func (f FID) Evaluate(in plugins.EvalInput) (plugins.EvalResult, error) {
	if f.inc != nil {
		return f.inc.fid(in, "", "fid", false)
	}
	model, err := classifier(in)
	if err != nil {
		return plugins.EvalResult{}, err
	}
	feats := map[string]*mat.Dense{}
	for name, x := range map[string][]float32{"samples": in.Samples, "held": in.HeldOut, "train": in.Train} {
		img, err := toMNIST(in, x)
		if err != nil {
			return plugins.EvalResult{}, fmt.Errorf("fid %v", err)
		}
		f, _ := model.Forward(img)
		feats[name] = f
	}
	fid, err := FeatureFrechet(feats["samples"], feats["held"])
	if err != nil {
		return plugins.EvalResult{}, err
	}
	floor, err := FeatureFrechet(feats["train"], feats["held"])
	if err != nil {
		return plugins.EvalResult{}, err
	}
	return plugins.EvalResult{
		Values: map[string]float64{"fid": fid, "fid_data_floor": floor},
		Notes:  map[string]string{"featurizer": model.ID()},
	}, nil
}

// InceptionScore is exp(E_x KL(p(y|x) || p(y))) over the rows of class probabilities.
func InceptionScore(p *mat.Dense) float64 {
	n, k := p.Dims()
	marginal := make([]float64, k)
	for i := range n {
		for j := range k {
			marginal[j] += p.At(i, j) / float64(n)
		}
	}
	var kl float64
	for i := range n {
		for j := range k {
			if v := p.At(i, j); v > 0 {
				kl += v * (math.Log(v) - math.Log(marginal[j]))
			}
		}
	}
	return math.Exp(kl / float64(n))
}

// IS is the Inception-Score-style number from the data's classifier (1 to 10; held-out
// MNIST scores near 10). On the Inception it is inception_is's value.
type IS struct{ features }

// Evaluate implements plugins.Metric.
func (m IS) Evaluate(in plugins.EvalInput) (plugins.EvalResult, error) {
	if m.inc != nil {
		return m.inc.is(in, "")
	}
	model, err := classifier(in)
	if err != nil {
		return plugins.EvalResult{}, err
	}
	vals := map[string]float64{}
	for name, x := range map[string][]float32{"is": in.Samples, "is_data": in.HeldOut} {
		img, err := toMNIST(in, x)
		if err != nil {
			return plugins.EvalResult{}, fmt.Errorf("is %v", err)
		}
		_, p := model.Forward(img)
		vals[name] = InceptionScore(p)
	}
	return plugins.EvalResult{Values: vals, Notes: map[string]string{"featurizer": model.ID()}}, nil
}

// ClassAccuracy is the share of a class-conditional model's samples that the data's
// classifier assigns to the class they were drawn for: how well the conditioning (and the
// guidance) works.
type ClassAccuracy struct{}

// Evaluate implements plugins.Metric.
func (ClassAccuracy) Evaluate(in plugins.EvalInput) (plugins.EvalResult, error) {
	if in.SampleLabels == nil {
		return plugins.EvalResult{}, fmt.Errorf("class_accuracy needs a class-conditional run (train.class_cond = true)")
	}
	model, err := classifier(in)
	if err != nil {
		return plugins.EvalResult{}, err
	}
	img, err := toMNIST(in, in.Samples)
	if err != nil {
		return plugins.EvalResult{}, fmt.Errorf("class_accuracy %v", err)
	}
	return plugins.EvalResult{Values: map[string]float64{"class_accuracy": model.Accuracy(img, in.SampleLabels)},
		Notes: map[string]string{"featurizer": model.ID()}}, nil
}

func init() {
	plugins.Register(plugins.Plugin{Kind: plugins.KindMetric, Name: "class_accuracy",
		Doc: "share of a class-conditional model's samples that the data's classifier (MNIST's; Fashion-MNIST's on Fashion-MNIST) assigns to their class",
		Reports: []plugins.Report{
			{Key: "class_accuracy", Better: plugins.HigherIsBetter, Unit: "fraction", From: plugins.FromSamples, Doc: "classifier accuracy on the samples, against the classes they were drawn for"},
		},
		New: func(plugins.Values) (plugins.Metric, error) { return ClassAccuracy{}, nil }})
	plugins.Register(plugins.Plugin{Kind: plugins.KindMetric, Name: "fid",
		Doc:     "FID-style Fréchet distance between classifier features (256-d; MNIST's classifier, Fashion-MNIST's on Fashion-MNIST) of samples and held-out data; on other images (eval.featurizer) inception_fid",
		Reports: distanceReports("fid", "Fréchet distance of classifier features (Inception features: against the reference)", "squared feature units"),
		New:     func(plugins.Values) (plugins.Metric, error) { return &FID{}, nil }})
	plugins.Register(plugins.Plugin{Kind: plugins.KindMetric, Name: "is",
		Doc: "Inception-Score-style exp(E KL(p(y|x) || p(y))) from the data's classifier (MNIST's; Fashion-MNIST's on Fashion-MNIST); on other images (eval.featurizer) inception_is",
		Reports: []plugins.Report{
			{Key: "is", Better: plugins.HigherIsBetter, Unit: "classes", From: plugins.FromSamples, Doc: "Inception Score of the samples (1 to 10; the Inception's: mean over 10 splits)"},
			{Key: "is_data", Unit: "classes", From: plugins.FromSamples, Doc: "Inception Score of held-out data (the Inception's: of the reference split): what a perfect model would reach"},
			{Key: "is_std", Unit: "classes", From: plugins.FromSamples, Doc: "on the Inception: standard deviation of the Inception Score over its 10 splits"},
		},
		New: func(plugins.Values) (plugins.Metric, error) { return &IS{}, nil }})
}
