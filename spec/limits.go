package spec

import "fmt"

// Limits on the shape of spec text, checked on the raw bytes before the TOML decoder sees
// them. The decoder's memory and time grow with the square of the nesting (deeply nested
// inline tables and long dotted keys), so a small file could exhaust memory before any key
// is checked. A spec needs far less than any of these.
const (
	// MaxSpecBytes is the largest spec file read.
	MaxSpecBytes = 1 << 20
	// MaxNesting is how deeply arrays and inline tables may nest inside one another.
	MaxNesting = 16
	// MaxKeyParts is the most parts a dotted key or table header may have (a.b.c has 3).
	MaxKeyParts = 8
	// MaxListLen is the most elements one array (or entries one inline table) may hold. It is
	// well above every list a spec may have (seeds and sweep lists stop at MaxTrials, a
	// network's layers sooner), so that those checks, with their clearer messages, come first.
	MaxListLen = 10 * MaxTrials
)

// frame is one open array ('['), inline table ('{') or table header ('h') of the scan.
type frame struct {
	kind   byte
	line   int
	elems  int
	expect bool // the next value character starts a new element
}

// checkLimits scans TOML text for nesting, dotted keys and list lengths beyond the limits
// above, skipping strings and comments, and returns an error naming file and line. It does
// not validate the syntax: text it passes may still be refused by the decoder.
func checkLimits(file string, data []byte) error {
	if len(data) > MaxSpecBytes {
		return &Error{File: file, Msg: fmt.Sprintf("is %d bytes; a spec may have at most %d (1 MiB)", len(data), MaxSpecBytes)}
	}
	line := 1
	var stack []*frame
	depth := 0        // open arrays and inline tables
	keyCtx := true    // reading a key (line start, header, inline table entry), not a value
	keyParts := 1     // parts of the key being read
	lineStart := true // only blanks since the start of the line
	fail := func(at int, format string, args ...any) error {
		return &Error{File: file, Line: at, Msg: fmt.Sprintf(format, args...)}
	}
	top := func() *frame {
		if len(stack) == 0 {
			return nil
		}
		return stack[len(stack)-1]
	}
	for i := 0; i < len(data); i++ {
		c := data[i]
		if c == '\n' {
			line++
			if len(stack) == 0 {
				keyCtx, keyParts, lineStart = true, 1, true
			}
			continue
		}
		if c == ' ' || c == '\t' || c == '\r' {
			continue
		}
		if c == '#' {
			for i+1 < len(data) && data[i+1] != '\n' {
				i++
			}
			continue
		}
		wasLineStart := lineStart
		lineStart = false
		// A value character starts an element of the innermost array or inline table.
		if f := top(); f != nil && f.kind != 'h' && f.expect && c != ',' && c != ']' && c != '}' {
			f.expect = false
			f.elems++
			if f.elems > MaxListLen {
				what := "an array with more than %d elements"
				if f.kind == '{' {
					what = "an inline table with more than %d entries"
				}
				return fail(line, what+" (opened on line %d); at most %d are allowed", MaxListLen, f.line, MaxListLen)
			}
		}
		switch c {
		case '"', '\'':
			end, lines := skipString(data, i)
			i, line = end, line+lines
		case '[':
			if len(stack) == 0 && keyCtx && wasLineStart {
				if i+1 < len(data) && data[i+1] == '[' {
					i++
				}
				stack = append(stack, &frame{kind: 'h', line: line})
				continue
			}
			depth++
			if depth > MaxNesting {
				return fail(line, "arrays and inline tables nested more than %d deep; at most %d levels are allowed", MaxNesting, MaxNesting)
			}
			stack = append(stack, &frame{kind: '[', line: line, expect: true})
			keyCtx = false
		case '{':
			depth++
			if depth > MaxNesting {
				return fail(line, "arrays and inline tables nested more than %d deep; at most %d levels are allowed", MaxNesting, MaxNesting)
			}
			stack = append(stack, &frame{kind: '{', line: line, expect: true})
			keyCtx, keyParts = true, 1
		case ']', '}':
			f := top()
			if f == nil {
				continue
			}
			stack = stack[:len(stack)-1]
			if f.kind == 'h' {
				if c == ']' && i+1 < len(data) && data[i+1] == ']' {
					i++
				}
				keyCtx = false
				continue
			}
			depth--
			keyCtx = false
		case ',':
			if f := top(); f != nil && f.kind != 'h' {
				f.expect = true
				if f.kind == '{' {
					keyCtx, keyParts = true, 1
				}
			}
		case '=':
			keyCtx = false
		case '.':
			if keyCtx {
				keyParts++
				if keyParts > MaxKeyParts {
					return fail(line, "a dotted key or table header with more than %d parts; at most %d are allowed", MaxKeyParts, MaxKeyParts)
				}
			}
		}
	}
	return nil
}

// skipString returns the index of the last byte of the TOML string that starts at data[i]
// (basic or literal, single- or multi-line) and how many newlines it spans. An unterminated
// string runs to the end of the line (single-line) or of the text (multi-line).
func skipString(data []byte, i int) (end, lines int) {
	q := data[i]
	multi := i+2 < len(data) && data[i+1] == q && data[i+2] == q
	if !multi {
		for j := i + 1; j < len(data); j++ {
			switch {
			case data[j] == '\\' && q == '"':
				if j+1 < len(data) && data[j+1] == '\n' {
					return j, 0
				}
				j++
			case data[j] == q:
				return j, 0
			case data[j] == '\n':
				return j - 1, 0
			}
		}
		return len(data) - 1, 0
	}
	for j := i + 3; j < len(data); j++ {
		switch {
		case data[j] == '\n':
			lines++
		case data[j] == '\\' && q == '"':
			if j+1 < len(data) && data[j+1] == '\n' {
				lines++
			}
			j++
		case data[j] == q && j+2 < len(data) && data[j+1] == q && data[j+2] == q:
			// Up to two more quotes right before the closing three belong to the string.
			k := j + 3
			for k < len(data) && k < j+5 && data[k] == q {
				k++
			}
			return k - 1, lines
		}
	}
	return len(data) - 1, lines
}
