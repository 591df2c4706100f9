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
	s := &limitScan{file: file, line: 1, keyCtx: true, keyParts: 1, lineStart: true}
	for i := 0; i < len(data); i++ {
		c := data[i]
		if c == '\n' {
			s.newline()
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
		wasLineStart := s.lineStart
		s.lineStart = false
		if err := s.countElement(c); err != nil {
			return err
		}
		var err error
		if i, err = s.token(data, i, wasLineStart); err != nil {
			return err
		}
	}
	return nil
}

// limitScan is the state of checkLimits' scan of one text. The text is passed to each step,
// not held here: held here, it would escape to the heap, and a caller that converts a string
// to call checkLimits would have to copy it.
type limitScan struct {
	file      string
	line      int
	stack     []*frame
	depth     int  // open arrays and inline tables
	keyCtx    bool // reading a key (line start, header, inline table entry), not a value
	keyParts  int  // parts of the key being read
	lineStart bool // only blanks since the start of the line
}

// fail is the error for a limit passed on line at.
func (s *limitScan) fail(at int, format string, args ...any) error {
	return &Error{File: s.file, Line: at, Msg: fmt.Sprintf(format, args...)}
}

// top is the innermost open frame, or nil.
func (s *limitScan) top() *frame {
	if len(s.stack) == 0 {
		return nil
	}
	return s.stack[len(s.stack)-1]
}

// newline counts a line; outside any bracket the next line starts with a key.
func (s *limitScan) newline() {
	s.line++
	if len(s.stack) == 0 {
		s.keyCtx, s.keyParts, s.lineStart = true, 1, true
	}
}

// countElement counts c, when it is a value character that starts an element of the
// innermost array or inline table, against MaxListLen.
func (s *limitScan) countElement(c byte) error {
	f := s.top()
	if f == nil || f.kind == 'h' || !f.expect || c == ',' || c == ']' || c == '}' {
		return nil
	}
	f.expect = false
	f.elems++
	if f.elems > MaxListLen {
		what := "an array with more than %d elements"
		if f.kind == '{' {
			what = "an inline table with more than %d entries"
		}
		return s.fail(s.line, what+" (opened on line %d); at most %d are allowed", MaxListLen, f.line, MaxListLen)
	}
	return nil
}

// token acts on the character at data[i], which is neither a blank nor in a comment, and
// returns the index of the last byte it used: the end of a string, or the second bracket
// of [[ and ]].
func (s *limitScan) token(data []byte, i int, wasLineStart bool) (int, error) {
	switch c := data[i]; c {
	case '"', '\'':
		end, lines := skipString(data, i)
		s.line += lines
		return end, nil
	case '[', '{':
		return s.open(data, c, i, wasLineStart)
	case ']', '}':
		return s.close(data, c, i), nil
	case ',':
		if f := s.top(); f != nil && f.kind != 'h' {
			f.expect = true
			if f.kind == '{' {
				s.keyCtx, s.keyParts = true, 1
			}
		}
	case '=':
		s.keyCtx = false
	case '.':
		if s.keyCtx {
			s.keyParts++
			if s.keyParts > MaxKeyParts {
				return i, s.fail(s.line, "a dotted key or table header with more than %d parts; at most %d are allowed", MaxKeyParts, MaxKeyParts)
			}
		}
	}
	return i, nil
}

// open opens a table header ([ or [[ first on a line outside any bracket), an array or an
// inline table, refusing nesting deeper than MaxNesting.
func (s *limitScan) open(data []byte, c byte, i int, wasLineStart bool) (int, error) {
	if c == '[' && len(s.stack) == 0 && s.keyCtx && wasLineStart {
		if i+1 < len(data) && data[i+1] == '[' {
			i++
		}
		s.stack = append(s.stack, &frame{kind: 'h', line: s.line})
		return i, nil
	}
	s.depth++
	if s.depth > MaxNesting {
		return i, s.fail(s.line, "arrays and inline tables nested more than %d deep; at most %d levels are allowed", MaxNesting, MaxNesting)
	}
	s.stack = append(s.stack, &frame{kind: c, line: s.line, expect: true})
	if c == '[' {
		s.keyCtx = false
	} else {
		s.keyCtx, s.keyParts = true, 1
	}
	return i, nil
}

// close closes the innermost frame, if any: what follows a closing bracket is not a key.
func (s *limitScan) close(data []byte, c byte, i int) int {
	f := s.top()
	if f == nil {
		return i
	}
	s.stack = s.stack[:len(s.stack)-1]
	s.keyCtx = false
	if f.kind == 'h' {
		if c == ']' && i+1 < len(data) && data[i+1] == ']' {
			i++
		}
		return i
	}
	s.depth--
	return i
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
