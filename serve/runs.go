package serve

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ddpm-runner/ddpm-runner/plugins"
	"github.com/ddpm-runner/ddpm-runner/report"
	"github.com/ddpm-runner/ddpm-runner/results"
)

// runRow is one run as the runs table shows it. Numbers a run does not have are null.
type runRow struct {
	DB        int                 `json:"db"`
	ID        int64               `json:"id"`
	Spec      string              `json:"spec"`
	Group     string              `json:"group"`
	GroupHash string              `json:"group_hash"`
	Seed      int                 `json:"seed"`
	Status    string              `json:"status"` // as recorded, or "crashed" (see Options.Crashed)
	Error     string              `json:"error,omitempty"`
	Step      *int                `json:"step"`
	Steps     *int                `json:"steps"`
	Rate      *float64            `json:"steps_per_s"`
	ETA       *float64            `json:"eta_s"`
	Heartbeat *float64            `json:"heartbeat_age_s"`
	Started   string              `json:"started"`
	Summaries map[string]*float64 `json:"summaries"`
}

// runsView is the runs table: its rows, the summaries it shows, the filter that selected
// them, and the databases that could not be read.
type runsView struct {
	Databases []string `json:"databases"`
	Columns   []string `json:"columns"`
	Runs      []runRow `json:"runs"`
	Errors    []string `json:"errors"`
	Filter    filter   `json:"filter"`
	Live      int      `json:"live"`
}

// filter is the runs a page shows: by spec, status (crashed included) and key=value params,
// as runner report --spec, --status and --where select them.
type filter struct {
	Spec   string   `json:"spec"`
	Status string   `json:"status"`
	Where  []string `json:"where"`
	conds  map[string]string
}

func filterFrom(r *http.Request) (filter, error) {
	q := r.URL.Query()
	f := filter{Spec: q.Get("spec"), Status: q.Get("status"), conds: map[string]string{}}
	for _, w := range q["where"] {
		for _, part := range strings.Fields(w) {
			k, v, ok := strings.Cut(part, "=")
			if !ok {
				return f, fmt.Errorf("where %q: want key=value (for example schedule.name=cosine)", part)
			}
			f.conds[k] = v
			f.Where = append(f.Where, part)
		}
	}
	return f, nil
}

// runs reads the runs of every database that f selects, grouped as runner report groups
// them (per database). A database that cannot be read is an error line, not a failed page.
func (s *Server) runs(f filter) runsView {
	v := runsView{Filter: f, Runs: []runRow{}, Errors: []string{}}
	cols := map[string]bool{}
	isMain := mainSummaries()
	for i, src := range s.opts.Sources {
		v.Databases = append(v.Databases, src.Name)
		status := f.Status
		if status == "crashed" {
			status = results.StatusRunning
		}
		runs, err := s.cache.runs(i, src.Store, results.Filter{Spec: f.Spec, Status: status})
		if err != nil {
			v.Errors = append(v.Errors, fmt.Sprintf("%s: %v", src.Name, err))
			continue
		}
		s.addRows(&v, i, src, report.FilterParams(runs, f.conds), cols, isMain)
	}
	v.Columns = report.MetricKeys([]*report.Group{{Stats: statKeys(cols)}})
	return v
}

// addRows adds the rows of runs of database i to v, and the summaries they show to cols.
func (s *Server) addRows(v *runsView, i int, src Source, runs []*results.Run, cols map[string]bool, isMain func(string) bool) {
	label := report.GroupLabels(runs)
	for _, r := range runs {
		row, err := s.row(i, src.Store, r, label[r.ID], isMain)
		if err != nil {
			v.Errors = append(v.Errors, fmt.Sprintf("%s: run %d: %v", src.Name, r.ID, err))
			continue
		}
		if v.Filter.Status != "" && row.Status != v.Filter.Status {
			continue
		}
		if row.Status == results.StatusRunning {
			v.Live++
		}
		for k := range row.Summaries {
			cols[k] = true
		}
		v.Runs = append(v.Runs, row)
	}
}

func statKeys(keys map[string]bool) map[string]*report.Stat {
	m := map[string]*report.Stat{}
	for k := range keys {
		m[k] = nil
	}
	return m
}

// row is one run's row: its progress from its loss rows, its rate and ETA while it runs.
func (s *Server) row(db int, store *results.Store, r *results.Run, group string, isMain func(string) bool) (runRow, error) {
	row := runRow{DB: db, ID: r.ID, Spec: r.Spec, Group: group, GroupHash: r.GroupHash, Seed: r.Seed, Status: r.Status,
		Error: r.Error, Started: r.Started, Summaries: map[string]*float64{}}
	row.Status = s.status(r)
	for k, x := range r.Summaries {
		if isMain(k) && !math.IsNaN(x) && !math.IsInf(x, 0) {
			row.Summaries[k] = &x
		}
	}
	row.Steps = plannedSteps(r)
	p, err := s.progress.get(db, store, r)
	if err != nil {
		return row, err
	}
	if p.Logged {
		step := p.Step
		row.Step = &step
		if dt := p.LastWall - p.FirstWall; dt > 0 && p.Step > p.FirstStep {
			rate := float64(p.Step-p.FirstStep) / dt
			row.Rate = &rate
			if row.Status == results.StatusRunning && row.Steps != nil {
				eta := float64(*row.Steps-p.Step) / rate
				row.ETA = &eta
			}
		}
	}
	if r.Status == results.StatusRunning {
		if hb, err := time.Parse(time.RFC3339Nano, r.Heartbeat); err == nil {
			age := time.Since(hb).Seconds()
			row.Heartbeat = &age
		}
	}
	return row, nil
}

// runCache keeps the runs read before, by database and id: a table of thousands of runs
// reads the runs table's own columns on each poll, and the params and summaries only of runs
// that are new or changed (a run that has not ended is read afresh each time).
type runCache struct {
	mu   sync.Mutex
	full map[runKey]*results.Run
}

type runKey struct {
	db int
	id int64
}

func newRunCache() *runCache { return &runCache{full: map[runKey]*results.Run{}} }

// runs is store.Runs(f) through the cache.
func (c *runCache) runs(db int, store *results.Store, f results.Filter) ([]*results.Run, error) {
	bare := f
	bare.Bare = true
	runs, err := store.Runs(bare)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	var missing []int64
	stale := map[int64]bool{}
	for i, r := range runs {
		full := c.full[runKey{db, r.ID}]
		if full == nil || full.UID != r.UID || full.Status != r.Status || full.Ended != r.Ended || r.Status == results.StatusRunning {
			missing = append(missing, r.ID)
			stale[r.ID] = true
			continue
		}
		runs[i] = full
	}
	c.mu.Unlock()
	if len(missing) == 0 {
		return runs, nil
	}
	fresh, err := store.Runs(results.Filter{IDs: missing})
	if err != nil {
		return nil, err
	}
	byID := map[int64]*results.Run{}
	c.mu.Lock()
	for _, r := range fresh {
		byID[r.ID] = r
		c.full[runKey{db, r.ID}] = r
	}
	c.mu.Unlock()
	out := runs[:0]
	for _, r := range runs {
		if stale[r.ID] { // a bare row: its full record, unless it vanished just now
			if r = byID[r.ID]; r == nil {
				continue
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// progressCache keeps the progress of runs that have ended: their loss rows no longer
// change, so a table of thousands of runs reads only the live runs' rows on each poll.
type progressCache struct {
	mu   sync.Mutex
	done map[string]results.Progress
}

func newProgressCache() *progressCache { return &progressCache{done: map[string]results.Progress{}} }

func (c *progressCache) get(db int, store *results.Store, r *results.Run) (results.Progress, error) {
	// A run that ended can be resumed, which changes its status and end: they are in the key.
	key := fmt.Sprintf("%d\x00%s\x00%s\x00%s", db, r.UID, r.Status, r.Ended)
	ended := r.Status != results.StatusRunning
	if ended {
		c.mu.Lock()
		p, ok := c.done[key]
		c.mu.Unlock()
		if ok {
			return p, nil
		}
	}
	p, err := store.Progress(r.ID)
	if err == nil && ended {
		c.mu.Lock()
		c.done[key] = p
		c.mu.Unlock()
	}
	return p, err
}

func (s *Server) runsAPI(w http.ResponseWriter, r *http.Request) {
	f, err := filterFrom(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	writeJSON(w, s.runs(f))
}

func (s *Server) runsPage(w http.ResponseWriter, r *http.Request) {
	f, err := filterFrom(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	data, err := jsonBlock(s.runs(f))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	s.page(w, "runs.html", map[string]any{"Title": "runs", "Data": data, "Filter": f, "Statuses": statuses, "Sweeps": len(s.opts.Sweeps) > 0,
		"Compare": compareLinks(s.opts.Sources)})
}

// statuses are the states a run can show, for the filter's menu.
var statuses = []string{results.StatusRunning, "crashed", results.StatusFinished, results.StatusFailed, results.StatusDiverged, results.StatusInterrupted}

// compareLinks are the compare pages of the databases, one per database.
func compareLinks(srcs []Source) [][2]string {
	var out [][2]string
	for i, s := range srcs {
		out = append(out, [2]string{"/compare?db=" + strconv.Itoa(i), s.Name})
	}
	return out
}

// mainSummary says whether the runs table shows a summary: the ranked measures of the model,
// not those of the machine's speed (the run page shows every summary).
func mainSummary(key string) bool {
	_, ranked := plugins.Ranked(key)
	return ranked && plugins.Reproducible(key)
}

// mainSummaries is mainSummary asked once a key (it searches the registry), for one request.
func mainSummaries() func(string) bool {
	main := map[string]bool{}
	return func(k string) bool {
		m, ok := main[k]
		if !ok {
			m = mainSummary(k)
			main[k] = m
		}
		return m
	}
}

// WriteRunsSnapshot writes the runs page of runs (of src) as one self-contained page, its
// style and script inline and its data in it, updating nothing: runner report --view runs
// --format html.
func WriteRunsSnapshot(w io.Writer, src Source, runs []*results.Run) error {
	s := New(Options{Sources: []Source{src}})
	v := runsView{Databases: []string{src.Name}, Runs: []runRow{}, Errors: []string{}, Filter: filter{conds: map[string]string{}}}
	cols := map[string]bool{}
	s.addRows(&v, 0, src, runs, cols, mainSummaries())
	v.Columns = report.MetricKeys([]*report.Group{{Stats: statKeys(cols)}})
	data, err := jsonBlock(v)
	if err != nil {
		return err
	}
	return s.snapshot(w, "runs.html", map[string]any{"Title": "runs", "Data": data})
}

// status is a run's state as the pages show it: its recorded status, or "crashed" for a
// running run whose owner is gone (as Reconcile would judge it).
func (s *Server) status(r *results.Run) string {
	if r.Status == results.StatusRunning && s.opts.Crashed != nil && s.opts.Crashed(r) {
		return "crashed"
	}
	return r.Status
}

// plannedSteps is the number of training steps a run's spec asks for (its recorded
// train.steps), nil where it records none.
func plannedSteps(r *results.Run) *int {
	if n, err := strconv.Atoi(r.Params["train.steps"]); err == nil && n > 0 {
		return &n
	}
	return nil
}
