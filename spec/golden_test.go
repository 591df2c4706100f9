package spec_test

import (
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"testing"

	"github.com/ddpm-runner/ddpm-runner/spec"
)

// TestShippedSpecHashesUnchanged pins the trial hashes and the canonical (recorded) form of
// every shipped spec: a database written by an earlier runner finds its runs again (rerun,
// resume, --add-seeds) only while these stay the same. The values were computed before the
// settings became typed structs; a change here breaks old databases and needs a migration.
func TestShippedSpecHashesUnchanged(t *testing.T) {
	want := map[string]struct {
		trials          int
		first, group    string
		canonicalDigest string
	}{
		"ablation_ddpm.toml":   {24, "aecddbee7c863c7f", "b31ae57fceade052", "6b213a63b18145b8"},
		"cosine_beta.toml":     {1, "c33a480633bb1c35", "60758325d6c81d14", "bb33b9c8f4a3e681"},
		"crosscheck_unet.toml": {1, "b7939bc67fe830bc", "c8e36b2550679603", "7112dbb869d21ac6"},
		"gaussian_vlb.toml":    {1, "6f4591d8b41b973f", "929b940ca32bc9d6", "25c3b3e0701fb18e"},
		"iddpm_hybrid.toml":    {18, "4b56faa01ce43994", "9398a84284a768e9", "dd2214ad6dc63fa1"},
		"linear_beta.toml":     {1, "df28e1472160ef87", "4fb52a0a4d10373e", "312b2c3a15964019"},
		"mnist_cfg.toml":       {1, "dd78d43be393a055", "d5a03f8e1186f211", "ddb4b354349801ca"},
		"mnist_unet_gpu.toml":  {1, "c9079de9fa00b9fd", "018d417bc4ed22ec", "8973582f052b97ac"},
		"quick_2d.toml":        {1, "bf0442b49d5c8456", "b50a7fb7c3cc07b6", "327cfa19cc98300e"},
		"schedules_2d.toml":    {6, "0d2f21e323da4601", "0097a7b6b51f66c7", "e46d11e747f5f733"},
		"swissroll_2d.toml":    {1, "e6466058848600c6", "0c2896aff4977f24", "9e5f7a7e86e73ba8"},
	}
	files, err := filepath.Glob("../experiments/*.toml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no shipped specs: %v", err)
	}
	for _, f := range files {
		name := filepath.Base(f)
		trials, err := spec.Load(f, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		sum := sha256.New()
		for _, tr := range trials {
			sum.Write([]byte(tr.Hash() + " " + tr.GroupHash() + " " + tr.Canonical() + "\n"))
		}
		got := struct {
			trials          int
			first, group    string
			canonicalDigest string
		}{len(trials), trials[0].Hash(), trials[0].GroupHash(), hex.EncodeToString(sum.Sum(nil))[:16]}
		w, ok := want[name]
		if !ok {
			t.Errorf("%s: not pinned; add {%d, %q, %q, %q}", name, got.trials, got.first, got.group, got.canonicalDigest)
			continue
		}
		if got != w {
			t.Errorf("%s: got {%d, %q, %q, %q}, want %+v", name, got.trials, got.first, got.group, got.canonicalDigest, w)
		}
	}
}
