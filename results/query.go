package results

import (
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Run is a recorded run as reports see it.
type Run struct {
	ID        int64              `json:"id"`
	UID       string             `json:"uid"`
	Spec      string             `json:"spec"`
	SpecFile  string             `json:"spec_file"`
	Hash      string             `json:"hash"`
	GroupHash string             `json:"group_hash"`
	Resolved  string             `json:"-"`
	Seed      int                `json:"seed"`
	Backend   string             `json:"backend"`
	Status    string             `json:"status"`
	Error     string             `json:"error,omitempty"`
	Started   string             `json:"started"`
	Ended     string             `json:"ended,omitempty"`
	Heartbeat string             `json:"heartbeat,omitempty"`
	Host      string             `json:"host,omitempty"`
	Pid       int                `json:"pid,omitempty"`
	Params    map[string]string  `json:"params"`
	Summaries map[string]float64 `json:"summaries"`
	Timings   map[string]float64 `json:"timings"`
	Env       map[string]string  `json:"env"`
}

// Filter selects runs; zero values select everything.
type Filter struct {
	Spec   string
	Status string
	Hash   string // only runs of this trial (spec.Trial.Hash)
	UID    string // only the run with this uid
	Last   int    // only the newest N
	IDs    []int64
	// Bare leaves out each run's params, env, summaries and timings: the runs table's own
	// columns only, for a reader that keeps the rest of runs it has read before.
	Bare bool
}

// Runs returns the runs that match f, oldest first, with their params, summaries, timings
// and provenance.
func (s *Store) Runs(f Filter) ([]*Run, error) {
	q := `SELECT id, spec, spec_file, hash, group_hash, resolved, seed, backend, status, error, started,
		COALESCE(ended, ''), COALESCE(heartbeat, ''), host, pid, COALESCE(uid, '') FROM runs`
	var where []string
	var args []any
	if f.Spec != "" {
		where = append(where, "spec = ?")
		args = append(args, f.Spec)
	}
	if f.Status != "" {
		where = append(where, "status = ?")
		args = append(args, f.Status)
	}
	if f.Hash != "" {
		where = append(where, "hash = ?")
		args = append(args, f.Hash)
	}
	if f.UID != "" {
		where = append(where, "uid = ?")
		args = append(args, f.UID)
	}
	if len(f.IDs) > 0 {
		ph := strings.TrimSuffix(strings.Repeat("?,", len(f.IDs)), ",")
		where = append(where, "id IN ("+ph+")")
		for _, id := range f.IDs {
			args = append(args, id)
		}
	}
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id DESC"
	if f.Last > 0 {
		q += fmt.Sprintf(" LIMIT %d", f.Last)
	}
	rows, err := s.DB.Query(q, args...)
	if err != nil {
		return nil, err
	}
	var runs []*Run
	for rows.Next() {
		r := &Run{Params: map[string]string{}, Summaries: map[string]float64{}, Timings: map[string]float64{}, Env: map[string]string{}}
		if err := rows.Scan(&r.ID, &r.Spec, &r.SpecFile, &r.Hash, &r.GroupHash, &r.Resolved, &r.Seed, &r.Backend,
			&r.Status, &r.Error, &r.Started, &r.Ended, &r.Heartbeat, &r.Host, &r.Pid, &r.UID); err != nil {
			rows.Close()
			return nil, err
		}
		runs = append(runs, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	slices.Reverse(runs) // newest first for LIMIT, oldest first for the reader
	if f.Bare {
		return runs, nil
	}
	if err := s.fillRuns(runs); err != nil {
		return nil, err
	}
	return runs, nil
}

// fillRuns reads the params, env, summaries and timings of runs (oldest first) with one
// query per table, rather than four queries per run: a report or a page over thousands of
// runs would otherwise spend most of its time in round trips. Rows of runs in the range that
// were not selected are skipped.
func (s *Store) fillRuns(runs []*Run) error {
	if len(runs) == 0 {
		return nil
	}
	byID := make(map[int64]*Run, len(runs))
	lo, hi := runs[0].ID, runs[0].ID
	for _, r := range runs {
		byID[r.ID] = r
		lo, hi = min(lo, r.ID), max(hi, r.ID)
	}
	// The range of ids, unless the runs are few and far apart in it (the running ones among
	// thousands): then the ids themselves.
	where, args := " WHERE run_id BETWEEN ? AND ?", []any{lo, hi}
	if n := int64(len(runs)); hi-lo+1 > 4*n && n <= 1000 {
		where = " WHERE run_id IN (" + strings.TrimSuffix(strings.Repeat("?,", len(runs)), ",") + ")"
		args = args[:0]
		for _, r := range runs {
			args = append(args, r.ID)
		}
	}
	for _, t := range []struct {
		table, query string
		into         func(*Run) any
	}{
		{"params", "SELECT run_id, key, value FROM params", func(r *Run) any { return r.Params }},
		{"env", "SELECT run_id, key, value FROM env", func(r *Run) any { return r.Env }},
		{"summaries", "SELECT run_id, key, value FROM summaries", func(r *Run) any { return r.Summaries }},
		{"timings", "SELECT run_id, phase, seconds FROM timings", func(r *Run) any { return r.Timings }},
	} {
		rows, err := s.DB.Query(t.query+where, args...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id int64
			var k string
			var v any
			if err := rows.Scan(&id, &k, &v); err != nil {
				rows.Close()
				return err
			}
			r := byID[id]
			if r == nil {
				continue
			}
			switch into := t.into(r).(type) {
			case map[string]string:
				into[k] = textOf(v)
			case map[string]float64:
				if into[k], err = s.number(v, id, t.table, k); err != nil {
					rows.Close()
					return err
				}
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}

// textOf is a text column's value as a string (SQLite may hand it back as bytes).
func textOf(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case []byte:
		return string(x)
	}
	return fmt.Sprint(v)
}

// Run returns one run by id.
func (s *Store) Run(id int64) (*Run, error) {
	runs, err := s.Runs(Filter{IDs: []int64{id}})
	if err != nil {
		return nil, err
	}
	if len(runs) == 0 {
		return nil, fmt.Errorf("no run with id %d in %s", id, s.Path)
	}
	return runs[0], nil
}

func (s *Store) fillStrings(table string, id int64, into map[string]string) error {
	rows, err := s.DB.Query(fmt.Sprintf("SELECT key, value FROM %s WHERE run_id = ?", table), id)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return err
		}
		into[k] = v
	}
	return rows.Err()
}

// number is a stored value as a float64: NULL (how a non-finite value is stored) is NaN. A
// column of numbers holds text or bytes only where the database was edited by hand; that is
// said naming the run, table, key and value, so it can be found and fixed, rather than as a
// driver's conversion error.
func (s *Store) number(v any, id int64, table, key string) (float64, error) {
	switch x := v.(type) {
	case nil:
		return math.NaN(), nil
	case float64:
		return x, nil
	case int64:
		return float64(x), nil
	case []byte:
		v = string(x)
	}
	text := fmt.Sprint(v)
	if f, err := strconv.ParseFloat(strings.TrimSpace(text), 64); err == nil {
		return f, nil
	}
	if len(text) > 80 {
		text = text[:80] + "..."
	}
	return 0, fmt.Errorf("results: %s: run %d: %s %q holds %q, which is not a number; fix or delete that row", s.Path, id, table, key, text)
}

// Point is one recorded metric value.
type Point struct {
	Step  int
	Value float64 // NaN where a non-finite value was recorded
	Wall  float64
}

// History returns the recorded values of one metric of a run, by step.
func (s *Store) History(id int64, key string) ([]Point, error) {
	rows, err := s.DB.Query("SELECT step, value, wall FROM metrics WHERE run_id = ? AND key = ? ORDER BY step, rowid", id, key)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Point
	for rows.Next() {
		var p Point
		var v any
		if err := rows.Scan(&p.Step, &v, &p.Wall); err != nil {
			return nil, err
		}
		if p.Value, err = s.number(v, id, "metrics", key); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// HistoryKeys returns the keys of a run's metric histories, sorted.
func (s *Store) HistoryKeys(id int64) ([]string, error) {
	rows, err := s.DB.Query("SELECT DISTINCT key FROM metrics WHERE run_id = ? ORDER BY key", id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// CountMetrics returns how many metric rows a run has (all runs when id is 0).
func (s *Store) CountMetrics(id int64) (int, error) {
	var n int
	var err error
	if id == 0 {
		err = s.DB.QueryRow("SELECT COUNT(*) FROM metrics").Scan(&n)
	} else {
		err = s.DB.QueryRow("SELECT COUNT(*) FROM metrics WHERE run_id = ?", id).Scan(&n)
	}
	return n, err
}

// ArtifactPath returns where a run's artifact row points ("" if it has none), made usable
// from the current working directory. The row is not checked and may point anywhere: read
// artifacts with ReadArtifact, which keeps to the run's own folder.
func (s *Store) ArtifactPath(id int64, name string) (string, error) {
	var p string
	err := s.DB.QueryRow("SELECT path FROM artifacts WHERE run_id = ? AND name = ?", id, name).Scan(&p)
	if err == sql.ErrNoRows {
		return "", nil
	}
	return s.resolvePath(p), err
}

// ArtifactNames lists the names of the artifacts a run recorded, sorted.
func (s *Store) ArtifactNames(id int64) ([]string, error) {
	rows, err := s.DB.Query("SELECT name FROM artifacts WHERE run_id = ? ORDER BY name", id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// Series is every recorded value of one metric of a run, in step order.
type Series struct {
	Steps  []int     `json:"steps"`
	Values []float64 `json:"values"` // NaN where a non-finite value was recorded
}

// AllHistory returns every metric of a run by key, each in step order, in one query.
func (s *Store) AllHistory(id int64) (map[string]*Series, error) {
	rows, err := s.DB.Query("SELECT key, step, value FROM metrics WHERE run_id = ? ORDER BY key, step, rowid", id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]*Series{}
	for rows.Next() {
		var k string
		var step int
		var v any
		if err := rows.Scan(&k, &step, &v); err != nil {
			return nil, err
		}
		f, err := s.number(v, id, "metrics", k)
		if err != nil {
			return nil, err
		}
		sr := out[k]
		if sr == nil {
			sr = &Series{}
			out[k] = sr
		}
		sr.Steps, sr.Values = append(sr.Steps, step), append(sr.Values, f)
	}
	return out, rows.Err()
}

// Progress is how far a run's training got: its newest logged loss step, and the first
// and newest logged steps with their wall-clock seconds (for a rate).
type Progress struct {
	Step      int
	FirstStep int
	FirstWall float64
	LastWall  float64
	Logged    bool
}

// Progress reads a run's progress from its loss rows (two index lookups).
func (s *Store) Progress(id int64) (Progress, error) {
	var p Progress
	err := s.DB.QueryRow("SELECT step, wall FROM metrics WHERE run_id = ? AND key = 'loss' ORDER BY step DESC LIMIT 1", id).Scan(&p.Step, &p.LastWall)
	if errors.Is(err, sql.ErrNoRows) {
		return p, nil
	}
	if err != nil {
		return p, err
	}
	p.Logged = true
	err = s.DB.QueryRow("SELECT step, wall FROM metrics WHERE run_id = ? AND key = 'loss' ORDER BY step LIMIT 1", id).Scan(&p.FirstStep, &p.FirstWall)
	return p, err
}
