// Package digest is the one way files are fingerprinted for the record: the hex SHA-256 of
// a regular file's bytes (imported checkpoints, Inception weights, noise files).
package digest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
)

// File returns the hex SHA-256 of the regular file at path; anything else (a folder, a FIFO,
// a device) is refused rather than read.
func File(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", err
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("%s: %w", path, errNotRegular)
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

var errNotRegular = errors.New("not a regular file")
