package spec

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"strings"

	"github.com/ddpm-runner/ddpm-runner/plugins"
)

// Component is one resolved table of a spec: the plugin it names (empty for [train] and
// [eval]) and every parameter, defaults filled in.
type Component struct {
	Name   string         `json:"name,omitempty"`
	Params plugins.Values `json:"params"`
}

// Trial is one fully resolved run: a spec at one sweep point and one seed.
type Trial struct {
	File        string `json:"-"`
	Spec        string `json:"spec"`
	Description string `json:"description,omitempty"`
	Seed        int    `json:"seed"`
	Backend     string `json:"backend"`
	// Kind is empty for a trial that trains, KindSample for one that samples from the final
	// weights of another run (runner sample); it is part of the hash.
	Kind string `json:"kind,omitempty"`
	// Sections maps a table name (data, schedule, ..., train, eval) to its resolved values.
	Sections map[string]Component `json:"sections"`
	// Sweep holds the swept keys of this trial and their values, for display.
	Sweep map[string]any `json:"sweep,omitempty"`
	// Settings are Sections' settings as typed fields, for the code that reads them. They
	// are not part of the canonical form (Sections is), so they change no hash.
	Settings Settings `json:"-"`
}

// Section returns a resolved table; it panics on a name that no spec has.
func (t *Trial) Section(name string) Component {
	c, ok := t.Sections[name]
	if !ok {
		panic(fmt.Sprintf("spec: no section %q", name))
	}
	return c
}

// Params flattens the trial into dotted keys ("schedule.name", "train.lr", ...) with
// values formatted as in TOML; this is what the params table and reports show.
func (t *Trial) Params() map[string]string {
	out := map[string]string{"seed": fmt.Sprint(t.Seed), "backend": t.Backend}
	if t.Kind != "" {
		out["kind"] = t.Kind
	}
	for sec, c := range t.Sections {
		if c.Name != "" {
			out[sec+".name"] = c.Name
		}
		for k, v := range c.Params {
			out[sec+"."+k] = FormatValue(v)
		}
	}
	return out
}

// FormatValue writes a parameter value the way a spec or --set would.
func FormatValue(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []string:
		return "[" + strings.Join(quoteAll(x), ", ") + "]"
	case []int, []float64:
		b, _ := json.Marshal(x)
		return strings.ReplaceAll(string(b), ",", ", ")
	}
	return fmt.Sprint(v)
}

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, e := range s {
		out[i] = fmt.Sprintf("%q", e)
	}
	return out
}

// Canonical is the trial's canonical JSON: every table in a fixed order with sorted keys and
// defaults filled in. Stored with each run, it is all that is needed to re-run it.
func (t *Trial) Canonical() string {
	b, err := json.Marshal(t.withoutOmittedDefaults())
	if err != nil {
		panic(err)
	}
	return string(b)
}

// withoutOmittedDefaults is t less the parameters declared OmitDefault that hold their
// default (FromCanonical fills them in again).
func (t *Trial) withoutOmittedDefaults() *Trial {
	c := *t
	c.Sections = make(map[string]Component, len(t.Sections))
	for table, comp := range t.Sections {
		params, cloned := comp.Params, false
		for _, d := range declarations(table, comp.Name) {
			v, ok := params[d.Name]
			if !ok || !d.OmitDefault {
				continue
			}
			if def, err := d.Check(d.Default); err == nil && reflect.DeepEqual(v, def) {
				if !cloned { // t's own values stay whole
					params, cloned = maps.Clone(params), true
				}
				delete(params, d.Name)
			}
		}
		c.Sections[table] = Component{Name: comp.Name, Params: params}
	}
	return &c
}

// declarations are the parameters a table declares: the spec's own, or the keys its kind
// shares and those of its plugin (name).
func declarations(table, name string) []plugins.Param {
	for _, st := range specTables {
		if st.name == table {
			return st.params
		}
	}
	for _, k := range pluginTables() {
		if k.Table != table {
			continue
		}
		decls := k.Common
		if p, err := plugins.Lookup(k.Kind, name); err == nil {
			decls = append(append([]plugins.Param{}, decls...), p.Params...)
		}
		return decls
	}
	return nil
}

// Hash identifies the trial's settings: the canonical form without the name and
// description (which change no number). GroupHash leaves out the seed too, so the seeds of
// one setting share it.
func (t *Trial) Hash() string { return t.hash(true) }

// GroupHash is Hash without the seed.
func (t *Trial) GroupHash() string { return t.hash(false) }

func (t *Trial) hash(withSeed bool) string {
	c := *t
	c.Spec, c.Description, c.Sweep = "", "", nil
	if !withSeed {
		c.Seed = -1
	}
	sum := sha256.Sum256([]byte(c.Canonical()))
	return hex.EncodeToString(sum[:])[:16]
}

// FromCanonical rebuilds a trial from its canonical JSON (as stored with a run). Values are
// re-checked against the current plugin declarations, so a run recorded by an older runner
// still re-runs, or fails with a clear message.
func FromCanonical(js string) (*Trial, error) {
	doc, kind, sweep, err := canonicalDoc(js)
	if err != nil {
		return nil, err
	}
	d := &document{file: "stored spec", raw: doc, lines: map[string]int{}, setKeys: map[string]string{}}
	trials, err := d.expand()
	if err != nil {
		return nil, err
	}
	trials[0].Kind = kind
	if len(sweep) > 0 {
		trials[0].Sweep = map[string]any{}
		for k, v := range sweep {
			trials[0].Sweep[k] = fromJSON(v)
		}
	}
	return trials[0], nil
}

// canonicalDoc turns a trial's canonical JSON back into the raw document of a spec with
// that one trial, and returns the trial's kind and sweep labels beside it.
func canonicalDoc(js string) (doc map[string]any, kind string, sweep map[string]any, err error) {
	var raw struct {
		Spec        string                    `json:"spec"`
		Description string                    `json:"description"`
		Seed        int                       `json:"seed"`
		Backend     string                    `json:"backend"`
		Kind        string                    `json:"kind"`
		Sections    map[string]map[string]any `json:"sections"`
		Sweep       map[string]any            `json:"sweep"`
	}
	if err := json.Unmarshal([]byte(js), &raw); err != nil {
		return nil, "", nil, fmt.Errorf("stored spec is not valid JSON: %w", err)
	}
	doc = map[string]any{"name": raw.Spec, "backend": raw.Backend, "seeds": []any{int64(raw.Seed)}}
	if raw.Description != "" {
		doc["description"] = raw.Description
	}
	for sec, c := range raw.Sections {
		tbl := map[string]any{}
		if n, ok := c["name"]; ok {
			tbl["name"] = n
		}
		if p, ok := c["params"].(map[string]any); ok {
			for k, v := range p {
				tbl[k] = fromJSON(v)
			}
		}
		doc[sec] = tbl
	}
	return doc, raw.Kind, raw.Sweep, nil
}

// fromJSON turns JSON numbers that are integral into int64, as TOML would decode them, so
// that integer parameters accept them.
func fromJSON(v any) any {
	switch x := v.(type) {
	case float64:
		if x == float64(int64(x)) {
			return int64(x)
		}
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = fromJSON(e)
		}
		return out
	}
	return v
}
