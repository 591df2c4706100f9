package engine_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ddpm-runner/ddpm-runner/engine"
	"github.com/ddpm-runner/ddpm-runner/featurizer/inception"
	"github.com/ddpm-runner/ddpm-runner/spec"
)

// TestInceptionWeightsCheckedAtPrepare: on RGB images fid means the Inception's, whose
// weights are looked for when the run is prepared: without them the run is refused before
// it trains, with a message naming the file; eval.inception relative to the spec's folder
// finds them; MNIST-shaped data keep the classifier and need no weights.
func TestInceptionWeightsCheckedAtPrepare(t *testing.T) {
	t.Setenv(inception.WeightsEnv, "")
	t.Setenv("TORCH_HOME", t.TempDir())
	dir := t.TempDir()
	writeImages(t, dir, 4, 8)
	text := fmt.Sprintf(`[data]
name = "images"
path = %q
size = 8
color = "rgb"
[network]
name = "unet"
channels = 4
mults = [1]
[eval]
metrics = ["fid"]
`, dir)
	for _, tc := range []struct {
		name string
		sets []string
		want string // "" for prepared
	}{
		{"gray 7x7 images: the classifier", []string{`data.color="gray"`, "data.size=7"}, ""},
		{"gray 8x8 images: the Inception", []string{`data.color="gray"`}, inception.WeightsFile},
		{"RGB, no weights", nil, "[eval] metrics: fid: the FID Inception weights are not on this machine"},
		{"RGB, no weights: where a spec names them", nil, `[eval] inception = "FILE"`},
		{"RGB, no weights, inception_is", []string{`eval.metrics=["inception_is"]`}, inception.WeightsFile},
		{"RGB, eval.inception", []string{`eval.inception="../featurizer/inception/testdata/weights_legacy.pth"`}, ""},
		{"RGB, eval.inception missing", []string{`eval.inception="absent.pth"`}, "absent.pth: no such file"},
		{"RGB, classifier asked", []string{`eval.featurizer="classifier"`}, `featurizer = "classifier"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			trials, err := spec.Parse("test.toml", []byte(text), tc.sets)
			if err != nil {
				t.Fatal(err)
			}
			_, err = engine.Prepare(trials[0])
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
			// A dry run (Inspect) does not look for the weights.
			if _, err := engine.Inspect(trials[0], nil); err != nil {
				t.Errorf("inspect: %v", err)
			}
		})
	}
}
