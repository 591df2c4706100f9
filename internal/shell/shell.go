// Package shell writes words that a POSIX shell (sh, dash, bash) reads back as exactly the
// text they were made from, for the commands the runner prints or writes into scripts.
//
// A word is single-quoted unless every byte of it means nothing to a shell: inside single
// quotes nothing is special ($, backticks, backslashes, newlines and globs are all literal),
// and a single quote itself is written by closing the quotes, writing \' and reopening. The one
// byte no shell word can hold is NUL; Check refuses it, with every other control character,
// for text that must also stay on one line.
package shell

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Quote returns s as one shell word. s must not hold a NUL byte (Check refuses it).
func Quote(s string) string {
	if s == "" {
		return "''"
	}
	if plain(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Join quotes each of words and joins them with spaces: a command line.
func Join(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = Quote(w)
	}
	return strings.Join(q, " ")
}

// plain says whether s can stand as a word unquoted: letters, digits and a few punctuation
// marks that no shell gives a meaning to anywhere in a word ('=' and '%' are left out: a
// leading NAME= is an assignment, a leading % a job in bash).
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '_' || c == '-' || c == '.' || c == '/' || c == ':' || c == ',' || c == '@' || c == '+') {
			return false
		}
	}
	return true
}

// Check says why s cannot be written on one line of a script or a printed command: it is not
// valid UTF-8, or it holds a control character (a newline, carriage return, tab, ESC, NUL,
// DEL or a C1 control). The error names the character and its byte offset.
func Check(s string) error {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return fmt.Errorf("byte 0x%02x at offset %d is not UTF-8 text", s[i], i)
		}
		if unicode.IsControl(r) {
			return fmt.Errorf("it holds a control character (%s at offset %d)", controlName(r), i)
		}
		i += size
	}
	return nil
}

func controlName(r rune) string {
	switch r {
	case '\n':
		return "a newline"
	case '\r':
		return "a carriage return"
	case '\t':
		return "a tab"
	case 0:
		return "NUL"
	case 0x1b:
		return "ESC"
	}
	return fmt.Sprintf("U+%04X", r)
}
