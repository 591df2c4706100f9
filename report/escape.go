package report

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Text from a database (spec names, parameter values, errors) is whatever its writers put
// there. Each rendering escapes it for where it goes, so that it can neither rewrite the
// reader's terminal, nor break a table's rows, nor run as a formula or a script.

// TerminalText makes s safe to print on a terminal: control characters (ESC, OSC, NUL,
// newlines and tabs included) and invalid UTF-8 are written as Go escapes (\x1b, \n), so
// they are seen rather than obeyed, and a row stays one line.
func TerminalText(s string) string {
	if isPlain(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case isControl(r):
			if r < 0x100 {
				fmt.Fprintf(&b, `\x%02x`, r)
			} else {
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// isControl reports the runes a terminal may act on: C0, DEL, C1, and the Unicode line
// and paragraph separators and bidirectional overrides (which reorder what is shown).
func isControl(r rune) bool {
	return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0x2028 || r == 0x2029 ||
		(r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069)
}

func isPlain(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return false
		}
	}
	return true
}

// CSVText makes s safe as a CSV cell that a spreadsheet will open and a terminal will show:
// control characters (ESC, NUL, line breaks) and invalid UTF-8 are written as escapes, as by
// TerminalText, and a cell starting with =, +, -, @, a tab or a carriage return is a formula
// to Excel, LibreOffice and Google Sheets, so it gets a leading apostrophe (OWASP's advice).
// The csv writer quotes the rest.
func CSVText(s string) string {
	s = TerminalText(s)
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// MarkdownText makes s safe as a Markdown table cell: HTML is escaped (Markdown passes it
// through to the page), the characters of Markdown's own syntax are backslash-escaped, and
// line breaks and other control characters are written as escapes so the row stays a row.
func MarkdownText(s string) string {
	s = TerminalText(s)
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '"':
			b.WriteString("&quot;")
		case '\\', '`', '*', '_', '[', ']', '|', '#', '!', '~':
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
