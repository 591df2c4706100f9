package spec

import (
	"maps"
	"slices"
	"strings"

	"github.com/ddpm-runner/ddpm-runner/plugins"
)

// KindSample is the kind of a trial that samples from another run's final weights instead
// of training (runner sample).
const KindSample = "sample"

// sampleTables are the tables a sample spec or a `runner sample` --set may change; every
// other setting is the parent run's.
var sampleTables = []string{"sample", "eval"}

// sharedSampleKeys are the [sample] keys every sampler has (the sampler kind's Common keys):
// they stay the parent's when a sample spec names another sampler, whose own parameters start
// from their defaults.
func sharedSampleKeys() []string {
	info, _ := plugins.Info(plugins.KindSampler)
	keys := make([]string, len(info.Common))
	for i, d := range info.Common {
		keys[i] = d.Name
	}
	return keys
}

// SampleTrials builds the trials of `runner sample`: the parent run's resolved trial
// (parentCanonical, as stored with it) with other [sample] and [eval] settings, of kind
// KindSample. data, if not nil, is a small spec (file names it in messages) holding only
// seeds, [sample], [eval] and a [sweep] over their keys; sets are --set overrides of the same.
// Without seeds, the trials sample with the parent's seed.
func SampleTrials(parentCanonical, file string, data []byte, sets []string) ([]*Trial, error) {
	base, _, _, err := canonicalDoc(parentCanonical)
	if err != nil {
		return nil, err
	}
	if file == "" {
		file = "runner sample"
	}
	over := &document{file: file, raw: map[string]any{}, lines: map[string]int{}, setKeys: map[string]string{}}
	if data != nil {
		if err := decode(file, data, &over.raw); err != nil {
			return nil, err
		}
		over.lines = locateKeys(data)
	}
	if err := over.applySets(sets); err != nil {
		return nil, err
	}
	if err := over.checkSampleOnly(); err != nil {
		return nil, err
	}
	d := &document{file: file, raw: mergeSample(base, over.raw), lines: over.lines, setKeys: over.setKeys}
	trials, err := d.expand()
	if err != nil {
		return nil, err
	}
	for _, t := range trials {
		t.Kind = KindSample
	}
	return trials, nil
}

// checkSampleOnly refuses any setting of a sample spec or --set that is not about sampling or
// evaluation: the weights are the parent's, so a training setting would be a lie.
func (d *document) checkSampleOnly() error {
	for _, k := range slices.Sorted(maps.Keys(d.raw)) {
		switch {
		case k == "seeds":
		case slices.Contains(sampleTables, k):
		case k == "sweep":
			sw, ok := d.raw[k].(map[string]any)
			if !ok {
				return d.errf(k, "[sweep] must be a table")
			}
			for _, key := range slices.Sorted(maps.Keys(sw)) {
				if tbl, _, _ := strings.Cut(key, "."); !slices.Contains(sampleTables, tbl) {
					return d.errf("sweep."+key, "runner sample sweeps only [sample] and [eval] keys; %q trains (sweep it in a spec for runner run)", key)
				}
			}
		default:
			return d.errf(k, "runner sample changes only seeds, [sample], [eval] and a [sweep] over them; %q is the parent run's "+
				"(a training setting: change it in a spec for runner run)", k)
		}
	}
	return nil
}

// mergeSample lays a sample spec's settings over the parent's document. When the sample spec
// names a sampler (or sweeps over samplers), the parent's [sample] keeps only the keys all
// samplers share, so that the parent sampler's own parameters do not leak into another's.
func mergeSample(parent, over map[string]any) map[string]any {
	out := deepCopy(parent)
	overSample, _ := over["sample"].(map[string]any)
	_, named := overSample["name"]
	if sw, ok := over["sweep"].(map[string]any); ok {
		_, swept := sw["sample.name"]
		named = named || swept
		out["sweep"] = deepCopy(sw)
	}
	if named {
		kept := map[string]any{}
		if old, ok := out["sample"].(map[string]any); ok {
			for _, k := range sharedSampleKeys() {
				if v, ok := old[k]; ok {
					kept[k] = v
				}
			}
		}
		out["sample"] = kept
	}
	for _, tbl := range sampleTables {
		src, ok := over[tbl].(map[string]any)
		if !ok {
			continue
		}
		dst, ok := out[tbl].(map[string]any)
		if !ok {
			dst = map[string]any{}
			out[tbl] = dst
		}
		maps.Copy(dst, src)
	}
	if seeds, ok := over["seeds"]; ok {
		out["seeds"] = seeds
	}
	return out
}

// KindImported is the kind of a trial whose weights were trained elsewhere and imported
// (runner import): it never trains; its final checkpoint holds the imported weights.
const KindImported = "imported"
