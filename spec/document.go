package spec

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/ddpm-runner/ddpm-runner/plugins"
)

// document is a decoded spec file: its raw values and where each key sits.
type document struct {
	file  string
	raw   map[string]any
	lines map[string]int // "table.key" (or "key" at top level, "table" for a header) -> line
	// setKeys marks dotted keys that came from --set, so errors name the flag, not the file.
	setKeys map[string]string
}

func (d *document) errf(key string, format string, args ...any) *Error {
	if flag, ok := d.setKeys[key]; ok {
		return &Error{File: d.file, Key: key, Msg: fmt.Sprintf("--set %s: ", flag) + fmt.Sprintf(format, args...)}
	}
	line := d.lines[key]
	if line == 0 {
		if i := strings.LastIndex(key, "."); i > 0 {
			line = d.lines[key[:i]]
		}
	}
	return &Error{File: d.file, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)}
}

// applySets applies --set overrides in order (a later one wins).
func (d *document) applySets(sets []string) error {
	for _, s := range sets {
		if err := d.applySet(s); err != nil {
			return err
		}
	}
	return nil
}

// applySet applies one --set override to the raw document.
func (d *document) applySet(s string) error {
	key, val, ok := strings.Cut(s, "=")
	key = strings.TrimSpace(key)
	if !ok || key == "" {
		return &Error{File: d.file, Msg: fmt.Sprintf("--set %q: want section.key=value (for example --set train.steps=200)", s)}
	}
	val = strings.TrimSpace(val)
	if err := checkLimits("", []byte("v = "+val)); err != nil {
		shown := s
		if len(shown) > 60 {
			cut := 60
			for !utf8.RuneStart(shown[cut]) {
				cut--
			}
			shown = shown[:cut] + "..."
		}
		return &Error{File: d.file, Key: key, Msg: fmt.Sprintf("--set %s: %s", shown, err.(*Error).Msg)}
	}
	parsed := parseSetValue(val)
	parts := strings.Split(key, ".")
	if len(parts) > 2 {
		return &Error{File: d.file, Key: key, Msg: fmt.Sprintf("--set %s: key %q has too many dots; want section.key", s, key)}
	}
	d.setKeys[key] = s
	if len(parts) == 1 {
		if slices.Contains(tableNames(), key) {
			return &Error{File: d.file, Key: key, Msg: fmt.Sprintf("--set %s: %q is a table, not a key; set one of its keys, for example --set %s.%s=...",
				s, key, key, exampleKey(key))}
		}
		if !slices.Contains(topLevelKeys, key) {
			return &Error{File: d.file, Key: key, Msg: fmt.Sprintf("--set %s: %s", s, unknownMsg("key", key))}
		}
		d.raw[key] = parsed
		return nil
	}
	if !slices.Contains(tableNames(), parts[0]) || parts[0] == "sweep" {
		return &Error{File: d.file, Key: key, Msg: fmt.Sprintf("--set %s: %s", s, unknownMsg("table", parts[0]))}
	}
	tbl, ok := d.raw[parts[0]].(map[string]any)
	if !ok {
		if _, exists := d.raw[parts[0]]; exists {
			return &Error{File: d.file, Key: key, Msg: fmt.Sprintf("--set %s: %q is not a table", s, parts[0])}
		}
		tbl = map[string]any{}
		d.raw[parts[0]] = tbl
	}
	tbl[parts[1]] = parsed
	return nil
}

// expand resolves the document into trials: one per sweep point and seed.
func (d *document) expand() ([]*Trial, error) {
	for k, v := range d.raw {
		if slices.Contains(topLevelKeys, k) {
			continue
		}
		_, isTable := v.(map[string]any)
		if !isTable && slices.Contains(tableNames(), k) {
			return nil, d.errf(k, "%q must be a table ([%s] with its keys), not a value", k, k)
		}
		if !isTable || !slices.Contains(tableNames(), k) {
			what := "key"
			if isTable {
				what = "table"
			}
			return nil, d.errf(k, "%s", unknownMsg(what, k))
		}
	}
	seeds, err := d.seeds()
	if err != nil {
		return nil, err
	}
	points, err := d.sweepPoints(len(seeds))
	if err != nil {
		return nil, err
	}
	var trials []*Trial
	for _, pt := range points {
		raw := deepCopy(d.raw)
		for _, a := range pt {
			tbl, key, _ := strings.Cut(a.key, ".")
			t, ok := raw[tbl].(map[string]any)
			if !ok {
				t = map[string]any{}
				raw[tbl] = t
			}
			t[key] = a.value
		}
		for _, seed := range seeds {
			tr, err := d.resolve(raw, pt, seed)
			if err != nil {
				return nil, err
			}
			trials = append(trials, tr)
		}
	}
	return trials, nil
}

func (d *document) seeds() ([]int, error) {
	v, ok := d.raw["seeds"]
	if !ok {
		return []int{0}, nil
	}
	p := plugins.Param{Name: "seeds", Type: plugins.IntList, MinLen: 1, Min: plugins.Bound(0)}
	cv, err := p.Check(v)
	if err != nil {
		return nil, d.errf("seeds", "key \"seeds\": %v", err)
	}
	seeds := cv.([]int)
	if len(seeds) > MaxTrials {
		return nil, d.errf("seeds", "key \"seeds\": %d seeds, more than the %d trials one spec may have", len(seeds), MaxTrials)
	}
	seen := map[int]bool{}
	for _, s := range seeds {
		if seen[s] {
			return nil, d.errf("seeds", "key \"seeds\": seed %d is listed twice", s)
		}
		seen[s] = true
	}
	return seeds, nil
}

type assignment struct {
	key   string
	value any
}

// sweepPoints returns the Cartesian product of the sweep axes, in sorted key order so that
// trial order does not depend on map iteration. nSeeds is how many trials each point makes.
func (d *document) sweepPoints(nSeeds int) ([][]assignment, error) {
	raw, ok := d.raw["sweep"]
	if !ok {
		return [][]assignment{nil}, nil
	}
	sw := raw.(map[string]any)
	keys := slices.Sorted(maps.Keys(sw))
	// Count before building: a product of a few long lists is larger than memory.
	count := nSeeds
	for _, k := range keys {
		if vals, ok := sw[k].([]any); ok && len(vals) > 0 {
			if count > MaxTrials/len(vals) {
				return nil, d.errf("sweep", "seeds and sweep expand to more than %d trials (the most one spec may have); split the sweep into several specs", MaxTrials)
			}
			count *= len(vals)
		}
	}
	if count > MaxTrials {
		return nil, d.errf("sweep", "seeds and sweep expand to %d trials, more than the %d one spec may have; split the sweep into several specs", count, MaxTrials)
	}
	points := [][]assignment{nil}
	for _, k := range keys {
		lineKey := "sweep." + k
		tbl, param, ok := strings.Cut(k, ".")
		if !ok || !slices.Contains(tableNames(), tbl) || tbl == "sweep" || strings.Contains(param, ".") {
			return nil, d.errf(lineKey, "sweep key %q must be table.key with table one of %s", k,
				strings.Join(tableNames()[:len(tableNames())-1], ", "))
		}
		vals, ok := sw[k].([]any)
		if !ok {
			return nil, d.errf(lineKey, "sweep key %q: want a list of values, got %T", k, sw[k])
		}
		if len(vals) == 0 {
			return nil, d.errf(lineKey, "sweep key %q: the list of values is empty", k)
		}
		var next [][]assignment
		for _, p := range points {
			for _, v := range vals {
				next = append(next, append(append([]assignment{}, p...), assignment{k, v}))
			}
		}
		points = next
	}
	return points, nil
}

// resolve validates one raw document (one sweep point) and builds its trial.
func (d *document) resolve(raw map[string]any, point []assignment, seed int) (*Trial, error) {
	swept := map[string]bool{}
	sweepVals := map[string]any{}
	for _, a := range point {
		swept[a.key] = true
		sweepVals[a.key] = a.value
	}
	// loc is the key whose line an error should point at: the sweep entry for a swept key.
	loc := func(key string) string {
		if swept[key] {
			return "sweep." + key
		}
		return key
	}
	t := &Trial{File: d.file, Seed: seed, Sections: map[string]Component{}}
	if len(sweepVals) > 0 {
		t.Sweep = sweepVals
	}
	if err := d.resolveHeader(raw, t); err != nil {
		return nil, err
	}
	table := func(name string) map[string]any {
		if m, ok := raw[name].(map[string]any); ok {
			return m
		}
		return map[string]any{}
	}
	for _, ps := range pluginTables() {
		tbl := table(ps.Table)
		name := ps.Default
		if v, ok := tbl["name"]; ok {
			s, ok := v.(string)
			if !ok {
				return nil, d.errf(loc(ps.Table+".name"), "key \"name\" in [%s]: want a string, got %T", ps.Table, v)
			}
			name = s
		}
		plug, err := plugins.Lookup(ps.Kind, name)
		if err != nil {
			return nil, d.errf(loc(ps.Table+".name"), "[%s] %v", ps.Table, err)
		}
		decls := append(append([]plugins.Param{}, ps.Common...), plug.Params...)
		vals, err := checkTable(d, ps.Table, tbl, decls, name, loc)
		if err != nil {
			return nil, err
		}
		t.Sections[ps.Table] = Component{Name: name, Params: vals}
	}
	for _, st := range specTables {
		vals, err := checkTable(d, st.name, table(st.name), st.params, "", loc)
		if err != nil {
			return nil, err
		}
		t.Sections[st.name] = Component{Params: vals}
	}
	// Kinds chosen by a key of another table ([eval] metrics, [loss] timesteps) name
	// registered plugins.
	for _, k := range plugins.Kinds() {
		if k.OwnTable() {
			continue
		}
		var names []string
		switch v := t.Sections[k.Table].Params[k.Key].(type) {
		case string:
			names = []string{v}
		case []string:
			names = v
		}
		for _, name := range names {
			if _, err := plugins.Lookup(k.Kind, name); err != nil {
				return nil, d.errf(loc(k.Table+"."+k.Key), "[%s] %s: %v", k.Table, k.Key, err)
			}
		}
	}
	if err := decodeSettings(t); err != nil {
		return nil, err
	}
	return t, nil
}

// resolveHeader reads the keys outside any table (name, description, backend) into t.
func (d *document) resolveHeader(raw map[string]any, t *Trial) error {
	str := func(key, def string) (string, error) {
		v, ok := raw[key]
		if !ok {
			return def, nil
		}
		s, ok := v.(string)
		if !ok {
			return "", d.errf(key, "key %q: want a string, got %T", key, v)
		}
		return s, nil
	}
	var err error
	if t.Spec, err = str("name", DefaultName(d.file)); err != nil {
		return err
	}
	if t.Description, err = str("description", ""); err != nil {
		return err
	}
	if t.Backend, err = str("backend", "go"); err != nil {
		return err
	}
	if !slices.Contains(Backends, t.Backend) {
		return d.errf("backend", "key \"backend\": %q is not a backend (valid: %s)", t.Backend, strings.Join(Backends, ", "))
	}
	return nil
}
