// Package serve is runner serve: a read-only web application over results databases and
// sweep folders. Its pages (the runs, one run, a comparison of groups, the sweeps) and their
// scripts are embedded in the binary, so they work with no network; the runs table and a
// run's curves poll small JSON endpoints and grow while runs train. Nothing it serves writes:
// the databases are opened read-only, artifacts are served only where the database records
// them and only from inside the run's folder (results.Store.ReadArtifact), and every string
// from a database is shown as text.
package serve

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ddpm-runner/ddpm-runner/report"
	"github.com/ddpm-runner/ddpm-runner/results"
)

// Source is one results database the server shows, by the name it was given on the
// command line.
type Source struct {
	Name  string
	Store *results.Store
	// Merged says that Store is runner report's scratch database of several (see
	// results.Store.UseLinkedRunDirs): a run's command to rerun it names the database it
	// came from and its id there.
	Merged bool
}

// SweepRow is one trial of a sweep folder: its state from its shard and from Slurm's queue,
// or why its shard could not be read.
type SweepRow struct {
	Trial int    `json:"trial"`
	Spec  string `json:"spec"`
	Seed  string `json:"seed"`
	State string `json:"state"`
	Run   int64  `json:"run,omitempty"`
	Slurm string `json:"slurm,omitempty"`
	Error string `json:"error,omitempty"`
}

// Sweep is a sweep folder the server shows; States reads its trials afresh.
type Sweep struct {
	Dir    string
	States func() ([]SweepRow, error)
}

// Options are what a server shows and how it judges runs.
type Options struct {
	Sources []Source
	Sweeps  []Sweep
	// Crashed says whether a run recorded as running has lost its owner (engine.LooksCrashed);
	// nil shows every such run as running.
	Crashed func(*results.Run) bool
	// Poll is how often the pages ask for news (default 2s).
	Poll time.Duration
}

//go:embed assets
var assets embed.FS

//go:embed pages/*.html
var pageFiles embed.FS

var pages = template.Must(template.New("").Funcs(funcs).ParseFS(pageFiles, "pages/*.html"))

// funcs are the templates' functions: short writes a recorded time (RFC 3339) to the second.
var funcs = template.FuncMap{"short": func(t string) string {
	if len(t) >= 19 {
		t = t[:19]
	}
	return strings.Replace(t, "T", " ", 1)
}}

// Server is the web application. It is safe for concurrent use.
type Server struct {
	opts     Options
	mux      *http.ServeMux
	progress *progressCache
	cache    *runCache
}

// New returns a server over opts' databases and sweeps.
func New(opts Options) *Server {
	if opts.Poll <= 0 {
		opts.Poll = 2 * time.Second
	}
	s := &Server{opts: opts, mux: http.NewServeMux(), progress: newProgressCache(), cache: newRunCache()}
	static, _ := fs.Sub(assets, "assets")
	s.mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	s.mux.HandleFunc("GET /{$}", s.runsPage)
	s.mux.HandleFunc("GET /api/runs", s.runsAPI)
	s.mux.HandleFunc("GET /run/{db}/{id}", s.runPage)
	s.mux.HandleFunc("GET /api/run/{db}/{id}", s.runAPI)
	s.mux.HandleFunc("GET /artifact/{db}/{id}/{name}", s.artifact)
	s.mux.HandleFunc("GET /samples/{db}/{id}", s.samples)
	s.mux.HandleFunc("GET /compare", s.comparePage)
	s.mux.HandleFunc("GET /sweeps", s.sweepsPage)
	s.mux.HandleFunc("GET /api/sweeps", s.sweepsAPI)
	return s
}

// Warm reads every run once, so that the first page over a large store answers as fast as
// the next ones.
func (s *Server) Warm() { s.runs(filter{conds: map[string]string{}}) }

// ServeHTTP answers GET and HEAD only, with headers that keep a page to its own scripts and
// pictures, and turns a panic in a handler (a database in a state nobody foresaw) into a 500
// rather than a dead server.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "runner serve is read-only: only GET and HEAD are answered", http.StatusMethodNotAllowed)
		return
	}
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			http.Error(w, fmt.Sprintf("internal error: %v", p), http.StatusInternalServerError)
		}
	}()
	s.mux.ServeHTTP(w, r)
}

// source is the database a request's {db} names, or an error said to the client.
func (s *Server) source(w http.ResponseWriter, r *http.Request) (int, *Source, bool) {
	i, err := strconv.Atoi(r.PathValue("db"))
	if err != nil || i < 0 || i >= len(s.opts.Sources) {
		http.Error(w, fmt.Sprintf("no database %q: there are %d, numbered from 0", r.PathValue("db"), len(s.opts.Sources)), http.StatusNotFound)
		return 0, nil, false
	}
	return i, &s.opts.Sources[i], true
}

// runID is a request's {id}.
func runID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		http.Error(w, fmt.Sprintf("%q is not a run id", r.PathValue("id")), http.StatusNotFound)
		return 0, false
	}
	return id, true
}

// artifact serves a picture that a run recorded, by its recorded name only: the path comes
// from the database and is read through results.Store.ReadArtifact, so it must resolve to a
// regular file inside the run's own folder, and it must be a PNG.
func (s *Server) artifact(w http.ResponseWriter, r *http.Request) {
	_, src, ok := s.source(w, r)
	if !ok {
		return
	}
	id, ok := runID(w, r)
	if !ok {
		return
	}
	name := r.PathValue("name")
	b, err := report.ReadPicture(src.Store, id, name)
	if errors.Is(err, results.ErrNoArtifact) {
		http.Error(w, fmt.Sprintf("run %d recorded no artifact %q", id, name), http.StatusNotFound)
		return
	}
	if err != nil {
		http.Error(w, fmt.Sprintf("run %d: artifact %q refused: %s", id, name, report.TerminalText(err.Error())), http.StatusForbidden)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(b)
}

// writeJSON answers v as JSON. encoding/json escapes <, > and & in strings, so the answer is
// also safe inside a page's <script type="application/json">.
func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	if err := enc.Encode(v); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

// page renders one of the pages with its data, which the page's script reads from an
// embedded JSON block (the same JSON its endpoint answers).
func (s *Server) page(w http.ResponseWriter, name string, data map[string]any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	data["Poll"] = s.opts.Poll.Milliseconds()
	if err := pages.ExecuteTemplate(w, name, data); err != nil {
		io.WriteString(w, template.HTMLEscapeString(err.Error()))
	}
}

// snapshot writes a page as one self-contained file: its style and script inline, nothing
// fetched, nothing polled.
func (s *Server) snapshot(w io.Writer, name string, data map[string]any) error {
	css, err := styles("assets/style.css", "assets/run.css")
	if err != nil {
		return err
	}
	js, err := assets.ReadFile("assets/app.js")
	if err != nil {
		return err
	}
	data["Static"], data["CSS"], data["JS"], data["Poll"] = true, template.CSS(css), template.JS(js), 0
	return pages.ExecuteTemplate(w, name, data)
}

// styles are the style sheets names, one after the other, for a page that carries its
// style in itself.
func styles(names ...string) (template.CSS, error) {
	var b strings.Builder
	for _, n := range names {
		css, err := assets.ReadFile(n)
		if err != nil {
			return "", err
		}
		b.Write(css)
	}
	return template.CSS(b.String()), nil
}

// jsonBlock is v as JSON for a page's <script type="application/json">: html/template
// leaves a template.JS alone, and encoding/json has escaped everything that could end the
// script element.
func jsonBlock(v any) (template.JS, error) {
	b, err := json.Marshal(v)
	return template.JS(b), err
}
