package results

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"slices"
	"time"
)

// Run statuses.
const (
	StatusRunning     = "running"
	StatusFinished    = "finished"
	StatusFailed      = "failed"
	StatusDiverged    = "diverged"
	StatusInterrupted = "interrupted"
)

// NewRun is what is recorded when a run starts.
type NewRun struct {
	Spec      string
	SpecFile  string
	Hash      string
	GroupHash string
	Resolved  string // the canonical resolved spec; enough to re-run
	Seed      int
	Backend   string
	Params    map[string]string
	Env       map[string]string
}

// CreateRun records a run as running, with its params and provenance, in one transaction.
func (s *Store) CreateRun(r NewRun) (int64, error) {
	tx, err := s.DB.Begin()
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	t := now()
	uid, err := newUID()
	if err != nil {
		return 0, err
	}
	res, err := tx.Exec(`INSERT INTO runs (spec, spec_file, hash, group_hash, resolved, seed, backend, status, started, heartbeat, host, pid, uid)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.Spec, r.SpecFile, r.Hash, r.GroupHash, r.Resolved, r.Seed, r.Backend, StatusRunning, t, t, Host(), os.Getpid(), uid)
	if err != nil {
		return 0, fmt.Errorf("results: recording run: %w", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, err
	}
	if err := insertPairs(tx, "params", id, r.Params); err != nil {
		return 0, err
	}
	if err := insertPairs(tx, "env", id, r.Env); err != nil {
		return 0, err
	}
	return id, tx.Commit()
}

// newUID is a run's unique id: 128 random bits in hex, the same form the schema migration
// gives runs recorded before uids existed.
func newUID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("results: run uid: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

func insertPairs(tx *sql.Tx, table string, id int64, kv map[string]string) error {
	stmt, err := tx.Prepare(fmt.Sprintf("INSERT OR REPLACE INTO %s (run_id, key, value) VALUES (?, ?, ?)", table))
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, k := range sortedKeys(kv) {
		if _, err := stmt.Exec(id, k, kv[k]); err != nil {
			return fmt.Errorf("results: writing %s: %w", table, err)
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := slices.Sorted(maps.Keys(m))
	return keys
}

// EndRun sets a run's final status and error message and its end time.
func (s *Store) EndRun(id int64, status, errMsg string) error {
	_, err := s.DB.Exec(`UPDATE runs SET status = ?, error = ?, ended = ?, heartbeat = ? WHERE id = ?`,
		status, errMsg, now(), now(), id)
	return err
}

// ErrTakenOver is returned by TakeOver and EndCrashed when the run's record changed since it
// was read: another process took the run over first.
var ErrTakenOver = errors.New("the run was taken over by another process")

// TakeOver makes this process the owner of a run for `runner resume`: status running, this
// host and pid, a fresh heartbeat, no end or error, and the interruption's marker summary
// gone. It is a compare-and-swap on the status and heartbeat that were read (seen), in one
// immediate transaction, so of two processes that read the same record only one wins; the
// other gets ErrTakenOver.
func (s *Store) TakeOver(id int64, seen *Run) error {
	tx, err := s.DB.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	res, err := tx.Exec(`UPDATE runs SET status = ?, error = '', ended = NULL, heartbeat = ?, host = ?, pid = ?
		WHERE id = ? AND status = ? AND COALESCE(heartbeat, '') = ?`,
		StatusRunning, now(), Host(), os.Getpid(), id, seen.Status, seen.Heartbeat)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return ErrTakenOver
	}
	if _, err := tx.Exec(`DELETE FROM summaries WHERE run_id = ? AND key = 'interrupted_at_step'`, id); err != nil {
		return err
	}
	return tx.Commit()
}

// EndCrashed records the end of a run whose process is known to be gone (it died without
// recording how the run ended), if its record is still the one that was read.
func (s *Store) EndCrashed(id int64, seen *Run, status, msg string) error {
	res, err := s.DB.Exec(`UPDATE runs SET status = ?, error = ?, ended = ? WHERE id = ? AND status = ? AND COALESCE(heartbeat, '') = ?`,
		status, msg, now(), id, seen.Status, seen.Heartbeat)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return ErrTakenOver
	}
	return nil
}

// Host is the name of this machine as runs record it.
func Host() string {
	h, err := os.Hostname()
	if err != nil {
		return "unknown"
	}
	return h
}

// TruncateMetrics deletes a run's metric rows after a step: those a resumed run recomputes.
func (s *Store) TruncateMetrics(id int64, afterStep int) error {
	_, err := s.DB.Exec(`DELETE FROM metrics WHERE run_id = ? AND step > ?`, id, afterStep)
	return err
}

// Heartbeat marks a run as alive; a running run whose heartbeat is old has crashed.
func (s *Store) Heartbeat(id int64) error {
	_, err := s.DB.Exec(`UPDATE runs SET heartbeat = ? WHERE id = ?`, now(), id)
	return err
}

// SetSummaries records (or replaces) summary values of a run in one transaction.
func (s *Store) SetSummaries(id int64, kv map[string]float64) error {
	return s.setReals("summaries", "key", "value", id, kv)
}

// SetTimings records (or replaces) per-phase timings, in seconds.
func (s *Store) SetTimings(id int64, kv map[string]float64) error {
	return s.setReals("timings", "phase", "seconds", id, kv)
}

func (s *Store) setReals(table, keyCol, valCol string, id int64, kv map[string]float64) error {
	tx, err := s.DB.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	stmt, err := tx.Prepare(fmt.Sprintf("INSERT OR REPLACE INTO %s (run_id, %s, %s) VALUES (?, ?, ?)", table, keyCol, valCol))
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, k := range sortedKeys(kv) {
		if _, err := stmt.Exec(id, k, finiteOrNil(kv[k])); err != nil {
			return fmt.Errorf("results: writing %s: %w", table, err)
		}
	}
	return tx.Commit()
}

// AddEnv records more provenance of a run (for example which featurizer a metric used).
func (s *Store) AddEnv(id int64, kv map[string]string) error {
	if len(kv) == 0 {
		return nil
	}
	tx, err := s.DB.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := insertPairs(tx, "env", id, kv); err != nil {
		return err
	}
	return tx.Commit()
}

// AddArtifact lists a file that a run produced. The path is stored relative to the
// database's folder, whatever the working directory (see ArtifactPath).
func (s *Store) AddArtifact(id int64, name, path string) error {
	_, err := s.DB.Exec(`INSERT OR REPLACE INTO artifacts (run_id, name, path) VALUES (?, ?, ?)`, id, name, s.relPath(path))
	return err
}

// finiteOrNil stores NaN and infinities as NULL: SQLite has no NaN.
func finiteOrNil(v float64) any {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return v
}

// MetricWriter buffers metric rows of one run and writes them in batched transactions.
// It is not safe for concurrent use.
type MetricWriter struct {
	store *Store
	run   int64
	batch int
	start time.Time
	buf   []metricRow
}

type metricRow struct {
	key   string
	step  int
	value float64
	wall  float64
}

// Metrics returns a writer for a run's metrics that flushes every batch rows (and on Flush).
func (s *Store) Metrics(run int64, batch int) *MetricWriter {
	if batch < 1 {
		batch = 1
	}
	return &MetricWriter{store: s, run: run, batch: batch, start: time.Now()}
}

// Add queues one value; it writes the batch when it is full.
func (w *MetricWriter) Add(key string, step int, value float64) error {
	w.buf = append(w.buf, metricRow{key, step, value, time.Since(w.start).Seconds()})
	if len(w.buf) >= w.batch {
		return w.Flush()
	}
	return nil
}

// Flush writes every queued row in one transaction.
func (w *MetricWriter) Flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	tx, err := w.store.DB.Begin()
	if err != nil {
		return fmt.Errorf("results: metrics: %w", err)
	}
	defer tx.Rollback()
	stmt, err := tx.Prepare("INSERT INTO metrics (run_id, key, step, value, wall) VALUES (?, ?, ?, ?, ?)")
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, r := range w.buf {
		if _, err := stmt.Exec(w.run, r.key, r.step, finiteOrNil(r.value), r.wall); err != nil {
			return fmt.Errorf("results: metrics: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("results: metrics: %w", err)
	}
	w.buf = w.buf[:0]
	return nil
}
