package spec

import (
	"errors"
	"fmt"
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
