package sweep

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/ddpm-runner/ddpm-runner/internal/atomicfile"
	"github.com/ddpm-runner/ddpm-runner/results"
)

// The seal: sweep.json is
//
//	{
//	  "seal": "hmac-sha256:<hex>",
//	  "manifest": { ... }
//	}
//
// where the HMAC is over the manifest's bytes exactly as they stand in the file, keyed by a
// random key in the submitting user's configuration folder. Whoever can edit the sweep
// folder but not read that key cannot write a manifest that passes, and a digest stored in
// the folder itself would not help: the same editor would rewrite it. The key stays on the
// submitting side (a login node, usually with the home folder shared); tasks never need it,
// since job.sbatch, fixed when sbatch copies it, checks the binary and the specs itself.

const (
	sealPrefix = "hmac-sha256:"
	sealDomain = "ddpm-runner sweep.json seal v1\n"
	keyBytes   = 32
)

// KeyPath is where the key that seals sweep folders is kept: ddpm-runner/sweep.key in the
// user's configuration folder ($XDG_CONFIG_HOME, or ~/.config).
func KeyPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no folder for the sweep key: %w", err)
	}
	return filepath.Join(dir, "ddpm-runner", "sweep.key"), nil
}

// loadKey reads the sealing key; with create, it makes one when there is none. The key file
// must be a regular file of this user that no one else may read or write, as ssh asks of
// its keys: a key others can read seals nothing.
func loadKey(create bool) ([]byte, string, error) {
	path, err := KeyPath()
	if err != nil {
		return nil, "", err
	}
	key, err := readKey(path)
	if err == nil || !create || !errors.Is(err, os.ErrNotExist) {
		return key, path, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, path, fmt.Errorf("making the sweep key: %w", err)
	}
	raw := make([]byte, keyBytes)
	if _, err := rand.Read(raw); err != nil {
		return nil, path, err
	}
	tmp, err := atomicfile.Create(path)
	if err != nil {
		return nil, path, fmt.Errorf("making the sweep key: %w", err)
	}
	defer tmp.Abort()
	if _, err := tmp.Write([]byte(hex.EncodeToString(raw) + "\n")); err != nil {
		return nil, path, fmt.Errorf("making the sweep key: %w", err)
	}
	// CommitNew fails if another submission made the key first; that key is then the one.
	if err := tmp.CommitNew(0o600); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, path, fmt.Errorf("making the sweep key: %w", err)
	}
	key, err = readKey(path)
	return key, path, err
}

func readKey(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() || st.Size() > 2*keyBytes+1 {
		return nil, fmt.Errorf("sweep key %s is not a key file (a regular file of %d hex digits)", path, 2*keyBytes)
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && int(sys.Uid) != os.Getuid() {
		return nil, fmt.Errorf("sweep key %s belongs to user %d, not to this user (%d)", path, sys.Uid, os.Getuid())
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("sweep key %s may be read or written by others (mode %04o); chmod 600 it, or remove it and resubmit", path, st.Mode().Perm())
	}
	b := make([]byte, 2*keyBytes+2)
	n, _ := f.Read(b)
	key, err := hex.DecodeString(strings.TrimSpace(string(b[:n])))
	if err != nil || len(key) != keyBytes {
		return nil, fmt.Errorf("sweep key %s is not %d hex-encoded bytes", path, keyBytes)
	}
	return key, nil
}

func seal(key, manifest []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(sealDomain))
	m.Write(manifest)
	return sealPrefix + hex.EncodeToString(m.Sum(nil))
}

// writeSealed writes dir/sweep.json with m and its seal.
func writeSealed(dir string, key []byte, m *Manifest) error {
	body, err := json.MarshalIndent(m, "  ", "  ")
	if err != nil {
		return err
	}
	s, _ := json.Marshal(seal(key, body))
	var b bytes.Buffer
	b.WriteString("{\n  \"seal\": ")
	b.Write(s)
	b.WriteString(",\n  \"manifest\": ")
	b.Write(body)
	b.WriteString("\n}\n")
	return atomicfile.Write(filepath.Join(dir, ManifestName), b.Bytes(), 0o644)
}

// readSealed reads dir/sweep.json and returns its manifest if its seal holds under this
// user's key.
func readSealed(dir string) (*Manifest, error) {
	where := filepath.Join(dir, ManifestName)
	b, err := results.ReadConfined(dir, ManifestName, maxManifestBytes)
	if err != nil {
		return nil, fmt.Errorf("sweep %s: %w", dir, err)
	}
	var outer struct {
		Seal     string          `json:"seal"`
		Manifest json.RawMessage `json:"manifest"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&outer); err != nil || outer.Seal == "" || len(outer.Manifest) == 0 {
		return nil, fmt.Errorf("%s is not sealed (made by an older runner, or rewritten): it cannot be trusted; submit the specs again into a new sweep folder", where)
	}
	key, keyPath, err := loadKey(false)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("cannot check the seal of %s: there is no sweep key at %s (a sweep folder can be resumed only by the user that submitted it, where that user's key is)", where, keyPath)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot check the seal of %s: %w", where, err)
	}
	if !hmac.Equal([]byte(seal(key, outer.Manifest)), []byte(outer.Seal)) {
		return nil, fmt.Errorf("%s was changed after submission, or sealed by another user: its seal does not match under the key %s", where, keyPath)
	}
	var m Manifest
	dec = json.NewDecoder(bytes.NewReader(outer.Manifest))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	return &m, nil
}
