package serve

import (
	"errors"
	"fmt"
	"html/template"
	"maps"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/ddpm-runner/ddpm-runner/internal/shell"
	"github.com/ddpm-runner/ddpm-runner/report"
	"github.com/ddpm-runner/ddpm-runner/results"
)

// runView is one run as its page shows it: everything recorded, every logged metric by
// step, the pictures it recorded and the bound by timestep. Non-finite numbers are null.
// Strings from the database are shown as report.TerminalText writes them. HeadHTML and
// BodyHTML are the parts of the page drawn from it by the templates "run-head" and
// "run-body", which runner report --format html draws each run's section with too.
type runView struct {
	DB        int                   `json:"db"`
	Database  string                `json:"database"`
	ID        int64                 `json:"id"`
	Spec      string                `json:"spec"`
	SpecFile  string                `json:"spec_file"`
	Hash      string                `json:"hash"`
	GroupHash string                `json:"group_hash"`
	Seed      int                   `json:"seed"`
	Status    string                `json:"status"`
	Error     string                `json:"error,omitempty"`
	Started   string                `json:"started"`
	Ended     string                `json:"ended,omitempty"`
	Host      string                `json:"host,omitempty"`
	Step      *int                  `json:"step"`
	Steps     *int                  `json:"steps"`
	Params    [][2]string           `json:"params"`
	Env       [][2]string           `json:"env"`
	Summaries [][2]string           `json:"summaries"`
	Timings   [][2]string           `json:"timings"`
	Series    map[string]jsonSeries `json:"series"`
	Bound     []*float64            `json:"bound_bits_per_dim"`
	Pictures  []string              `json:"pictures"`
	Artifacts []string              `json:"artifacts"`
	Command   string                `json:"command"`
	Warnings  []string              `json:"warnings"`
	HeadHTML  template.HTML         `json:"head_html"`
	BodyHTML  template.HTML         `json:"body_html"`
	sec       *section
}

// jsonSeries is a metric's steps and values, null where the value was not finite.
type jsonSeries struct {
	Steps  []int      `json:"steps"`
	Values []*float64 `json:"values"`
}

func finite(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

func pairs[V any](m map[string]V, format func(V) string) [][2]string {
	out := [][2]string{}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, [2]string{k, format(m[k])})
	}
	return out
}

func number(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }

// errNoRun says that a database has no run of that id (it was never there, or it is gone).
var errNoRun = errors.New("no such run")

// run reads one run for its page (inline: for a snapshot, its pictures inside the page).
func (s *Server) run(db int, id int64, inline bool) (*runView, error) {
	src := s.opts.Sources[db]
	runs, err := src.Store.Runs(results.Filter{IDs: []int64{id}})
	if err != nil {
		return nil, err
	}
	if len(runs) == 0 {
		return nil, fmt.Errorf("%s: run %d: %w", src.Name, id, errNoRun)
	}
	r := runs[0]
	esc := report.TerminalText
	text := func(x string) string { return esc(x) }
	v := &runView{DB: db, Database: esc(src.Name), ID: r.ID, Spec: esc(r.Spec), SpecFile: esc(r.SpecFile), Hash: esc(r.Hash),
		GroupHash: esc(r.GroupHash), Seed: r.Seed, Status: esc(r.Status), Error: esc(r.Error), Started: esc(r.Started),
		Ended: esc(r.Ended), Host: esc(r.Host), Params: pairs(r.Params, text), Env: pairs(r.Env, text),
		Summaries: pairs(r.Summaries, number), Timings: pairs(r.Timings, number),
		Series: map[string]jsonSeries{}, Pictures: []string{}, Warnings: []string{},
		Command: esc(rerunCommand(src, r))}
	v.Status, v.Steps = esc(s.status(r)), plannedSteps(r)
	hist, err := src.Store.AllHistory(id)
	if err != nil {
		return nil, err
	}
	for k, h := range hist {
		js := jsonSeries{Steps: h.Steps, Values: make([]*float64, len(h.Values))}
		for i, x := range h.Values {
			js.Values[i] = finite(x)
		}
		v.Series[esc(k)] = js
		if k == "loss" && len(h.Steps) > 0 {
			step := h.Steps[len(h.Steps)-1]
			v.Step = &step
		}
	}
	if v.Artifacts, err = src.Store.ArtifactNames(id); err != nil {
		return nil, err
	}
	var warn strings.Builder
	arts := &report.Artifacts{Store: src.Store, Warn: &warn}
	pics := pictures(arts, db, id, v.Artifacts, inline)
	for _, p := range pics {
		v.Pictures = append(v.Pictures, p.Name)
	}
	for i, name := range v.Artifacts {
		v.Artifacts[i] = esc(name)
	}
	if !inline { // a snapshot draws no curves
		for _, x := range report.BoundTerms(arts, id) {
			v.Bound = append(v.Bound, finite(x))
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(warn.String()), "\n") {
		if line != "" {
			v.Warnings = append(v.Warnings, strings.TrimPrefix(line, "warning: "))
		}
	}
	sec := newSection(v, pics, !inline)
	v.sec = sec
	if inline { // a snapshot draws the section in its own page
		return v, nil
	}
	var b strings.Builder
	if err := pages.ExecuteTemplate(&b, "run-head", sec); err != nil {
		return nil, err
	}
	v.HeadHTML = template.HTML(b.String())
	b.Reset()
	if err := pages.ExecuteTemplate(&b, "run-body", sec); err != nil {
		return nil, err
	}
	v.BodyHTML = template.HTML(b.String())
	return v, nil
}

// rerunCommand is the command that runs r again: in the database src names, or, for a run
// that runner report merged into its scratch database from several, in the database it came
// from under its id there.
func rerunCommand(src Source, r *results.Run) string {
	db, id := src.Name, strconv.FormatInt(r.ID, 10)
	if src.Merged && r.Env["merged_from"] != "" && r.Env["merged_shard_run"] != "" {
		db, id = r.Env["merged_from"], r.Env["merged_shard_run"]
	}
	return shell.Join([]string{"runner", "rerun", id, "--db", db})
}

// section is what the templates "run-head" and "run-body" draw a run's page from: the run,
// its pictures, its provenance with the versions of the Go modules apart (they are many and
// rarely what a reader looks for), and whether it is live (it may grow) or a snapshot.
type section struct {
	V            *runView
	Pics         []picture
	Env, Modules [][2]string
	Step         string
	Live         bool
}

func newSection(v *runView, pics []picture, live bool) *section {
	sec := &section{V: v, Pics: pics, Live: live, Step: "-"}
	if v.Step != nil {
		sec.Step = strconv.Itoa(*v.Step)
	}
	for _, kv := range v.Env {
		if strings.HasPrefix(kv[0], "module.") && kv[0] != "module.github.com/gomlx/gomlx" {
			sec.Modules = append(sec.Modules, kv)
		} else {
			sec.Env = append(sec.Env, kv)
		}
	}
	return sec
}

// runOf answers a request for a run's view, or says why there is none.
func (s *Server) runOf(w http.ResponseWriter, r *http.Request) *runView {
	db, _, ok := s.source(w, r)
	if !ok {
		return nil
	}
	id, ok := runID(w, r)
	if !ok {
		return nil
	}
	v, err := s.run(db, id, false)
	switch {
	case errors.Is(err, errNoRun):
		http.Error(w, err.Error()+" (it may have been deleted)", http.StatusNotFound)
		return nil
	case err != nil:
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return nil
	}
	return v
}

func (s *Server) runAPI(w http.ResponseWriter, r *http.Request) {
	if v := s.runOf(w, r); v != nil {
		writeJSON(w, v)
	}
}

func (s *Server) runPage(w http.ResponseWriter, r *http.Request) {
	v := s.runOf(w, r)
	if v == nil {
		return
	}
	data, err := jsonBlock(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	s.page(w, "run.html", map[string]any{"Title": fmt.Sprintf("run %d", v.ID), "Data": data, "Run": v})
}
