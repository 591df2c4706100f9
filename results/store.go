package results

import (
	"bytes"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	_ "github.com/mattn/go-sqlite3" // registers the "sqlite3" driver
)

// DefaultPath is where the database lives unless --db or RUNNER_DB say otherwise.
const DefaultPath = "results/runs.db"

// Store is an open results database.
type Store struct {
	DB   *sql.DB
	Path string
}

// sqliteHeader starts every SQLite 3 database file.
var sqliteHeader = []byte("SQLite format 3\x00")

// Open opens (creating it and its folder if needed) the database at path and migrates it to
// the current schema. A file that exists but is not a SQLite database is refused before
// SQLite touches it, so it is left exactly as it was.
func Open(path string) (*Store, error) {
	return openAt(path, SchemaVersion)
}

func openAt(path string, version int) (*Store, error) {
	if err := checkIsSQLite(path); err != nil {
		return nil, err
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("results: cannot create folder for %s: %w", path, err)
		}
	}
	// _txlock=immediate takes the write lock at BEGIN, so two writers never deadlock on a
	// read-to-write upgrade; busy_timeout makes them wait for each other instead of failing.
	dsn := fmt.Sprintf("file:%s?_busy_timeout=30000&_journal_mode=WAL&_synchronous=NORMAL&_foreign_keys=on&_txlock=immediate", path)
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, fmt.Errorf("results: open %s: %w", path, err)
	}
	s := &Store{DB: db, Path: path}
	if err := s.migrate(version); err != nil {
		db.Close()
		return nil, fmt.Errorf("results: %s: %w", path, err)
	}
	return s, nil
}

func checkIsSQLite(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("results: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("results: %w", err)
	}
	if st.IsDir() {
		return fmt.Errorf("results: %s is a directory, not a database file", path)
	}
	if st.Size() == 0 {
		return nil
	}
	head := make([]byte, len(sqliteHeader))
	if _, err := io.ReadFull(f, head); err != nil || !bytes.Equal(head, sqliteHeader) {
		return fmt.Errorf("results: %s is not a SQLite database; refusing to touch it (give another --db path)", path)
	}
	return nil
}

// migrate brings the schema to the given version inside one immediate transaction, so that
// processes opening the same new database at once migrate it exactly once.
func (s *Store) migrate(version int) error {
	tx, err := s.DB.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var cur int
	if err := tx.QueryRow("PRAGMA user_version").Scan(&cur); err != nil {
		return fmt.Errorf("reading schema version: %w", err)
	}
	if cur > len(migrations) {
		return fmt.Errorf("schema version %d is newer than this runner's %d; use a newer runner", cur, len(migrations))
	}
	for v := cur; v < version; v++ {
		if _, err := tx.Exec(migrations[v]); err != nil {
			return fmt.Errorf("migration to schema version %d: %w", v+1, err)
		}
	}
	if cur < version {
		if _, err := tx.Exec(fmt.Sprintf("PRAGMA user_version = %d", version)); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// Version returns the database's schema version.
func (s *Store) Version() (int, error) {
	var v int
	err := s.DB.QueryRow("PRAGMA user_version").Scan(&v)
	return v, err
}

// Close closes the database.
func (s *Store) Close() error { return s.DB.Close() }

// now is the timestamp format of every time column: RFC 3339 in UTC with nanoseconds, which
// sorts as text.
func now() string { return time.Now().UTC().Format(time.RFC3339Nano) }
