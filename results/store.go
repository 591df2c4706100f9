package results

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mattn/go-sqlite3" // registers the "sqlite3" driver
	"golang.org/x/sys/unix"
)

// DefaultPath is where the database lives unless --db or RUNNER_DB say otherwise.
const DefaultPath = "results/runs.db"

// Store is an open results database.
type Store struct {
	DB   *sql.DB
	Path string
	// real is Path with every symlink followed, fixed when the database is opened: the
	// artifact folder and stored artifact paths are derived from it (see ArtifactRoot).
	real     string
	readOnly bool
	// linked is set by UseLinkedRunDirs: its runs' artifacts stay in the databases they were
	// merged from.
	linked  bool
	onClose []func()
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
	// SQLite needs to write the file and, for its journal, the folder; say so plainly
	// rather than as "unable to open database file" at the first statement.
	if _, err := os.Stat(path); err == nil && unix.Access(path, unix.W_OK) != nil {
		return nil, fmt.Errorf("results: %s cannot be written (read-only file); give a writable --db path", path)
	}
	if !dirWritable(filepath.Dir(path)) {
		return nil, fmt.Errorf("results: %s cannot be written (its folder %s is read-only); give a writable --db path", path, filepath.Dir(path))
	}
	// _txlock=immediate takes the write lock at BEGIN, so two writers never deadlock on a
	// read-to-write upgrade; busy_timeout makes them wait for each other instead of failing.
	dsn, err := fileURI(path, "_busy_timeout=30000&_journal_mode=WAL&_synchronous=NORMAL&_foreign_keys=on&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, fmt.Errorf("results: open %s: %w", path, err)
	}
	s := &Store{DB: db, Path: path}
	if err := s.migrate(version); err != nil {
		db.Close()
		if isReadOnly(err) {
			return nil, fmt.Errorf("results: %s cannot be written (read-only file or folder); give a writable --db path", path)
		}
		return nil, fmt.Errorf("results: %s: %w", path, err)
	}
	s.real = resolveDBPath(path)
	return s, nil
}

// OpenReadOnly opens an existing database for reading only (reports): nothing is migrated
// or written, so a database in a read-only folder, or a read-only file, can be read. A
// database whose schema is older than this runner's is read as it is where it can be.
func OpenReadOnly(path string) (*Store, error) {
	if err := checkIsSQLite(path); err != nil {
		return nil, err
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("results: %w", err)
	}
	query, err := readOnlyQuery(path)
	if err != nil {
		return nil, fmt.Errorf("results: %w", err)
	}
	dsn, err := fileURI(path, "_busy_timeout=30000&"+query)
	if err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, fmt.Errorf("results: open %s: %w", path, err)
	}
	s := &Store{DB: db, Path: path, real: resolveDBPath(path), readOnly: true}
	v, err := s.Version()
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("results: reading %s: %w", path, err)
	}
	if v > SchemaVersion {
		db.Close()
		return nil, fmt.Errorf("results: %s: schema version %d is newer than this runner's %d; use a newer runner", path, v, SchemaVersion)
	}
	if v < SchemaVersion {
		db.Close()
		return nil, fmt.Errorf("results: %s has schema version %d; open it once with a command that writes (runner run) to migrate it to %d", path, v, SchemaVersion)
	}
	if err := checkTables(context.Background(), db, "main"); err != nil {
		db.Close()
		return nil, fmt.Errorf("results: %s: %w", path, err)
	}
	return s, nil
}

// readOnlyQuery is the URI query that opens the database at path for reading only, whether
// it is opened or attached. Reading a WAL database needs its -shm file; where that cannot be
// made (a read-only folder or file), immutable=1 reads the file as it is: nothing can be
// writing it then. A read-only database whose -wal holds changes is read through its -shm
// where that exists, and refused where it does not, since immutable reading would silently
// leave the changes out.
func readOnlyQuery(path string) (string, error) {
	if dirWritable(filepath.Dir(path)) && unix.Access(path, unix.W_OK) == nil {
		return "mode=ro", nil
	}
	if st, err := os.Stat(path + "-wal"); err == nil && st.Size() > 0 {
		if !exists(path + "-shm") {
			return "", fmt.Errorf("%s cannot be written, and its write-ahead log %s-wal holds changes that SQLite cannot read without its -shm file; "+
				"copy it with its -wal file somewhere writable and use the copy", path, path)
		}
		return "mode=ro", nil
	}
	return "mode=ro&immutable=1", nil
}

// resolveDBPath is the database file's path with every symlink followed, or path as it is
// where it cannot be resolved (a database not created yet).
func resolveDBPath(path string) string {
	if real, err := filepath.EvalSymlinks(path); err == nil {
		return real
	}
	return path
}

// realPath is the database file's own path, symlinks followed (see resolveDBPath).
func (s *Store) realPath() string {
	if s.real != "" {
		return s.real
	}
	return resolveDBPath(s.Path)
}

// fileURI turns a file path into a SQLite URI with the given query. Every byte of the path
// that a URI would read as syntax (?, #, %, and anything outside the unreserved set) is
// percent-encoded, so any name the filesystem allows names exactly that file.
func fileURI(path, query string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("results: %s: %w", path, err)
	}
	var b strings.Builder
	b.WriteString("file:")
	for i := 0; i < len(abs); i++ {
		c := abs[i]
		if c == '/' || c == '-' || c == '.' || c == '_' || c == '~' ||
			(c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	b.WriteByte('?')
	b.WriteString(query)
	return b.String(), nil
}

// isReadOnly reports SQLite's "attempt to write a readonly database".
func isReadOnly(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.Code == sqlite3.ErrReadonly
}

func dirWritable(dir string) bool {
	return unix.Access(dir, unix.W_OK) == nil
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
	if version == len(migrations) {
		// A database of this version made elsewhere may hold a view where a table belongs,
		// which every later read would compute without end.
		if err := checkTables(context.Background(), tx, "main"); err != nil {
			return err
		}
	}
	if version >= 3 {
		// The database's identity: its artifact folder is marked with it, so that the folder
		// is never shared with another database (see ArtifactRoot).
		if _, err := tx.Exec(`INSERT OR IGNORE INTO meta (key, value) VALUES ('database_id', lower(hex(randomblob(16))))`); err != nil {
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

// Close closes the database, then runs what OnClose registered.
func (s *Store) Close() error {
	err := s.DB.Close()
	for _, f := range s.onClose {
		f()
	}
	s.onClose = nil
	return err
}

// OnClose registers f to run after the database is closed (a scratch database's folder
// removed, for example).
func (s *Store) OnClose(f func()) { s.onClose = append(s.onClose, f) }

// now is the timestamp format of every time column: RFC 3339 in UTC with all nine digits of
// nanoseconds (RFC3339Nano drops trailing zeros, and "05.1Z" would sort after "05.12Z"), so
// that it sorts as text.
func now() string { return time.Now().UTC().Format("2006-01-02T15:04:05.000000000Z07:00") }
