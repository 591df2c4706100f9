package report

import (
	"strings"
	"testing"
)

func TestEscapes(t *testing.T) {
	for _, tc := range []struct {
		in, terminal, csv, markdown string
	}{
		{"plain", "plain", "plain", "plain"},
		{"\x1b]0;pwned\x07title", `\x1b]0;pwned\x07title`, `\x1b]0;pwned\x07title`, `\\x1b\]0;pwned\\x07title`},
		{"two\nlines", `two\nlines`, `two\nlines`, `two\\nlines`},
		{"nul\x00", `nul\x00`, `nul\x00`, `nul\\x00`},
		{"=HYPERLINK(\"x\")", `=HYPERLINK("x")`, `'=HYPERLINK("x")`, `=HYPERLINK(&quot;x&quot;)`},
		{"+1", "+1", "'+1", "+1"},
		{"-2+3", "-2+3", "'-2+3", "-2+3"},
		{"@SUM(A1)", "@SUM(A1)", "'@SUM(A1)", "@SUM(A1)"},
		{"<script>alert(1)</script>", "<script>alert(1)</script>", "<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"},
		{`<img src=x onerror="a()">`, `<img src=x onerror="a()">`, `<img src=x onerror="a()">`, `&lt;img src=x onerror=&quot;a()&quot;&gt;`},
		{"a|b", "a|b", "a|b", `a\|b`},
		{"\t=1", `\t=1`, `\t=1`, `\\t=1`},
		{"bad\xffutf8", `bad\xffutf8`, `bad\xffutf8`, `bad\\xffutf8`},
		{"rtl\u202eoverride", `rtl\u202eoverride`, `rtl\u202eoverride`, `rtl\\u202eoverride`},
	} {
		if got := TerminalText(tc.in); got != tc.terminal {
			t.Errorf("TerminalText(%q) = %q, want %q", tc.in, got, tc.terminal)
		}
		if got := CSVText(tc.in); got != tc.csv {
			t.Errorf("CSVText(%q) = %q, want %q", tc.in, got, tc.csv)
		}
		if got := MarkdownText(tc.in); got != tc.markdown {
			t.Errorf("MarkdownText(%q) = %q, want %q", tc.in, got, tc.markdown)
		}
	}
}

// TestTablesKeepOneRowPerGroup: a group label with a newline and escape codes renders as one
// row in the terminal table, in Markdown and in CSV (a defused cell, its control characters
// written as escapes).
func TestTablesKeepOneRowPerGroup(t *testing.T) {
	g := &Group{Label: "=evil\n| x | \x1b[2J", Spec: "-spec", GroupHash: "abc", Status: map[string]int{"finished": 1},
		Stats: map[string]*Stat{"fid": {N: 1, Mean: 1, CI95: 0}}}
	var b strings.Builder
	if err := WriteTable(&b, []*Group{g}, false); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "\x1b") || strings.Count(strings.SplitN(b.String(), "\n\n", 2)[0], "\n") != 1 {
		t.Errorf("table:\n%s", b.String())
	}
	b.Reset()
	if err := WriteMarkdown(&b, []*Group{g}); err != nil {
		t.Fatal(err)
	}
	rows := strings.Split(strings.SplitN(b.String(), "\n\n", 2)[0], "\n")
	if len(rows) != 3 || strings.Count(rows[2], " | ") != strings.Count(rows[0], " | ") {
		t.Errorf("markdown rows %q", rows)
	}
	b.Reset()
	if err := WriteCSV(&b, []*Group{g}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `'=evil\n| x | \x1b[2J`) || strings.ContainsAny(b.String(), "\x1b\x00") ||
		strings.Count(b.String(), "\n") != 2 || !strings.Contains(b.String(), ",'-spec,") {
		t.Errorf("csv:\n%s", b.String())
	}
}
