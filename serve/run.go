package serve

import (
	"errors"
	"fmt"
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

// run reads one run for its page.
func (s *Server) run(db int, id int64) (*runView, error) {
	src := s.opts.Sources[db]
	runs, err := src.Store.Runs(results.Filter{IDs: []int64{id}})
	if err != nil {
		return nil, err
	}
	if len(runs) == 0 {
		return nil, fmt.Errorf("%s: run %d: %w", src.Name, id, errNoRun)
	}
	r := runs[0]
	v := &runView{DB: db, Database: src.Name, ID: r.ID, Spec: r.Spec, SpecFile: r.SpecFile, Hash: r.Hash, GroupHash: r.GroupHash,
		Seed: r.Seed, Status: r.Status, Error: r.Error, Started: r.Started, Ended: r.Ended, Host: r.Host,
		Params: pairs(r.Params, func(x string) string { return x }), Env: pairs(r.Env, func(x string) string { return x }),
		Summaries: pairs(r.Summaries, number), Timings: pairs(r.Timings, number),
		Series: map[string]jsonSeries{}, Pictures: []string{}, Warnings: []string{},
		Command: shell.Join([]string{"runner", "rerun", strconv.FormatInt(r.ID, 10), "--db", src.Name})}
	if r.Status == results.StatusRunning && s.opts.Crashed != nil && s.opts.Crashed(r) {
		v.Status = "crashed"
	}
	if n, err := strconv.Atoi(r.Params["train.steps"]); err == nil && n > 0 {
		v.Steps = &n
	}
	hist, err := src.Store.AllHistory(id)
	if err != nil {
		return nil, err
	}
	for k, h := range hist {
		js := jsonSeries{Steps: h.Steps, Values: make([]*float64, len(h.Values))}
		for i, x := range h.Values {
			js.Values[i] = finite(x)
		}
		v.Series[k] = js
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
	for _, name := range v.Artifacts {
		if strings.HasSuffix(name, ".png") {
			if _, err := report.ReadPicture(src.Store, id, name); err != nil {
				v.Warnings = append(v.Warnings, fmt.Sprintf("%s: %s", name, err))
				continue
			}
			v.Pictures = append(v.Pictures, name)
		}
	}
	for _, x := range report.BoundTerms(arts, id) {
		v.Bound = append(v.Bound, finite(x))
	}
	for _, line := range strings.Split(strings.TrimSpace(warn.String()), "\n") {
		if line != "" {
			v.Warnings = append(v.Warnings, line)
		}
	}
	return v, nil
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
	v, err := s.run(db, id)
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
