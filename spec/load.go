package spec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/BurntSushi/toml"

	"github.com/ddpm-runner/ddpm-runner/plugins"
)

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
	f, err := os.Open(path)
	if err != nil {
		return nil, &Error{File: path, Msg: err.Error()}
	}
	defer f.Close()
	// One byte past the limit tells a file at the limit from a longer one (or an endless
	// device) without reading the rest.
	data, err := io.ReadAll(io.LimitReader(f, MaxSpecBytes+1))
	if err != nil {
		return nil, &Error{File: path, Msg: err.Error()}
	}
	if len(data) > MaxSpecBytes {
		return nil, &Error{File: path, Msg: fmt.Sprintf("is larger than %d bytes (1 MiB), the most a spec may have", MaxSpecBytes)}
	}
	if bytes.IndexByte(data, 0) >= 0 || !utf8.Valid(data) {
		return nil, &Error{File: path, Msg: "is not a text file (binary content); give a TOML spec"}
	}
	return data, nil
}

// Parse is Load on spec text already in memory; file is used in messages only.
func Parse(file string, data []byte, sets []string) ([]*Trial, error) {
	doc := &document{file: file, raw: map[string]any{}, setKeys: map[string]string{}}
	if err := decode(file, data, &doc.raw); err != nil {
		return nil, err
	}
	doc.lines = locateKeys(data)
	if err := doc.applySets(sets); err != nil {
		return nil, err
	}
	return doc.expand()
}

// Resolve is Parse on a document given as its tables (as the TOML decoder would give them:
// integers as int64) rather than as text; file names it in messages. A command that takes
// settings as arguments (runner schedule) resolves them here, as a run resolves its spec, so
// every key works there and is checked the same way. doc is not kept.
func Resolve(file string, doc map[string]any, sets []string) ([]*Trial, error) {
	d := &document{file: file, raw: deepCopy(doc), lines: map[string]int{}, setKeys: map[string]string{}}
	if err := d.applySets(sets); err != nil {
		return nil, err
	}
	return d.expand()
}

// decode decodes spec text into raw after checking its shape against the limits (see
// checkLimits); its errors name file and line.
func decode(file string, data []byte, raw *map[string]any) error {
	if err := checkLimits(file, data); err != nil {
		return err
	}
	if _, err := toml.Decode(string(data), raw); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return &Error{File: file, Line: pe.Position.Line, Msg: "TOML syntax error: " + pe.Message}
		}
		return &Error{File: file, Msg: "TOML error: " + err.Error()}
	}
	return nil
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
