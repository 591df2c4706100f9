package spec

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/BurntSushi/toml"

	"github.com/ddpm-runner/ddpm-runner/plugins"
)

// Error is a spec problem, located by file, line (0 when none applies) and key.
type Error struct {
	File string
	Line int
	Key  string
	Msg  string
}

func (e *Error) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	if loc == "" {
		return e.Msg
	}
	return loc + ": " + e.Msg
}

// IsSpecError reports whether err is (or wraps) a spec Error, i.e. bad user input.
func IsSpecError(err error) bool {
	var e *Error
	return errors.As(err, &e)
}

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

// Load reads one spec file, applies the --set overrides ("section.key=value", the value
// written as in TOML; a bare word is taken as a string) and expands seeds and sweep into
// trials. It writes nothing anywhere.
func Load(path string, sets []string) ([]*Trial, error) {
	data, err := readSpecFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data, sets)
}

func readSpecFile(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, &Error{File: path, Msg: "no such spec file"}
		}
		return nil, &Error{File: path, Msg: err.Error()}
	}
	if st.IsDir() {
		return nil, &Error{File: path, Msg: "is a directory; give a .toml spec file (for example experiments/linear_beta.toml)"}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{File: path, Msg: err.Error()}
	}
	if bytes.IndexByte(data, 0) >= 0 || !utf8.Valid(data) {
		return nil, &Error{File: path, Msg: "is not a text file (binary content); give a TOML spec"}
	}
	return data, nil
}

// Parse is Load on spec text already in memory; file is used in messages only.
func Parse(file string, data []byte, sets []string) ([]*Trial, error) {
	doc := &document{file: file, raw: map[string]any{}, setKeys: map[string]string{}}
	if _, err := toml.Decode(string(data), &doc.raw); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, &Error{File: file, Line: pe.Position.Line, Msg: "TOML syntax error: " + pe.Message}
		}
		return nil, &Error{File: file, Msg: "TOML error: " + err.Error()}
	}
	doc.lines = locateKeys(data)
	for _, s := range sets {
		if err := doc.applySet(s); err != nil {
			return nil, err
		}
	}
	return doc.expand()
}

var (
	headerRE = regexp.MustCompile(`^\s*\[\s*([A-Za-z0-9_.\-"]+)\s*\]`)
	keyRE    = regexp.MustCompile(`^\s*("[^"]*"|[A-Za-z0-9_\-]+(?:\.[A-Za-z0-9_\-]+)*)\s*=`)
)

// locateKeys maps every key of the file to its line. BurntSushi/toml reports positions of
// syntax errors but not of keys, and a spec error without a line is much less useful.
func locateKeys(data []byte) map[string]int {
	lines := map[string]int{}
	table := ""
	for i, line := range strings.Split(string(data), "\n") {
		if m := headerRE.FindStringSubmatch(line); m != nil {
			table = strings.Trim(m[1], `"`)
			lines[table] = i + 1
			continue
		}
		if m := keyRE.FindStringSubmatch(line); m != nil {
			key := strings.Trim(m[1], `"`)
			if table != "" {
				key = table + "." + key
			}
			if _, seen := lines[key]; !seen {
				lines[key] = i + 1
			}
		}
	}
	return lines
}

// applySet applies one --set override to the raw document.
func (d *document) applySet(s string) error {
	key, val, ok := strings.Cut(s, "=")
	key = strings.TrimSpace(key)
	if !ok || key == "" {
		return &Error{File: d.file, Msg: fmt.Sprintf("--set %q: want section.key=value (for example --set train.steps=200)", s)}
	}
	parsed := parseSetValue(strings.TrimSpace(val))
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

// unknownMsg says that name is not a top-level key or table, lists the valid ones, and
// suggests the closest (never name itself).
func unknownMsg(what, name string) string {
	valid := append(append([]string{}, topLevelKeys...), tableNames()...)
	msg := fmt.Sprintf("unknown %s %q (valid: %s)", what, name, strings.Join(valid, ", "))
	if best := plugins.Closest(name, valid); best != "" && best != name {
		msg += fmt.Sprintf("; did you mean %q?", best)
	}
	return msg
}

// exampleKey is a key of table used in messages.
func exampleKey(table string) string {
	switch table {
	case "train":
		return "steps"
	case "eval":
		return "n"
	case "sweep":
		return "KEY"
	}
	return "name"
}

// parseSetValue reads a --set value as a TOML value (so 200 is an integer, 1e-4 a float,
// [1, 2] a list, true a bool), falling back to a plain string for bare words like cosine.
func parseSetValue(v string) any {
	var m map[string]any
	if _, err := toml.Decode("v = "+v, &m); err == nil {
		return m["v"]
	}
	return v
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
	keys := make([]string, 0, len(sw))
	for k := range sw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
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

func deepCopy(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok {
			out[k] = deepCopy(sub)
		} else {
			out[k] = v
		}
	}
	return out
}

// DefaultName is the spec name used when a file sets none: its base name without extension.
func DefaultName(file string) string {
	base := filepath.Base(file)
	return strings.TrimSuffix(base, filepath.Ext(base))
}
