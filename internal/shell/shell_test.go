package shell

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

// readBack runs Quote(s) as the only argument of a command in the given shell and returns
// how many words the shell saw and the first one, byte for byte.
func readBack(t testing.TB, sh, quoted string) (int, string) {
	t.Helper()
	out, err := exec.Command(sh, "-c", "set -- "+quoted+"\nprintf '%s:' \"$#\"; printf '%s' \"$1\"").Output()
	if err != nil {
		t.Fatalf("%s could not read %q: %v", sh, quoted, err)
	}
	n, word, _ := strings.Cut(string(out), ":")
	count := 0
	for _, c := range n {
		count = count*10 + int(c-'0')
	}
	return count, word
}

var shells = []string{"sh", "bash"}

// TestQuoteReadsBackExactly: a quoted word is one word, exactly the text, in sh and bash:
// no expansion ($NAME, $(...), backticks, globs, ~, history), no splitting, newlines kept.
func TestQuoteReadsBackExactly(t *testing.T) {
	words := []string{"", "plain", "/a/b-c_d.e:f,g@h+i", "with space", "it's", `"double"`, "$HOME", "${HOME}", "$(id)", "`id`",
		"a\nb", "*", "?", "[a]", "~", "~root", "!", "x=y", "%1", "#comment", `back\slash`, "tab\there", "\x1b[2J", "\xff\xfe",
		"'", "''", "'\\''", "-n", "--", ";", "&", "|", "<>", "{a,b}", "日本"}
	for _, sh := range shells {
		if _, err := exec.LookPath(sh); err != nil {
			t.Logf("no %s here", sh)
			continue
		}
		for _, w := range words {
			q := Quote(w)
			n, got := readBack(t, sh, q)
			if n != 1 || got != w {
				t.Errorf("%s read Quote(%q) = %s as %d word(s), the first %q", sh, w, q, n, got)
			}
		}
	}
	if got := Join([]string{"run", "a b", "$x"}); got != `run 'a b' '$x'` {
		t.Errorf("Join = %s", got)
	}
}

func TestCheckRefusesControlCharacters(t *testing.T) {
	for _, s := range []string{"a\nb", "a\rb", "\t", "\x00", "\x1b[31m", "\x7f", "\u0085", "\xff"} {
		if Check(s) == nil {
			t.Errorf("Check(%q) accepted it", s)
		}
	}
	for _, s := range []string{"", "plain", "with space", "it's $HOME `x`", "日本"} {
		if err := Check(s); err != nil {
			t.Errorf("Check(%q): %v", s, err)
		}
	}
}

// FuzzQuote: any byte sequence is either refused (a NUL byte, which no shell word can hold)
// or read back by sh and bash as exactly one word equal to it.
func FuzzQuote(f *testing.F) {
	for _, s := range []string{"", "a b", "it's", "$HOME", "`id`", "a\nb", "\\", "'\"'", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if bytes.IndexByte([]byte(s), 0) >= 0 {
			if Check(s) == nil {
				t.Fatalf("Check accepted a NUL byte in %q", s)
			}
			return
		}
		q := Quote(s)
		for _, sh := range shells {
			if n, got := readBack(t, sh, q); n != 1 || got != s {
				t.Fatalf("%s read Quote(%q) = %s as %d word(s), the first %q", sh, s, q, n, got)
			}
		}
	})
}
