package serve

import (
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"

	"github.com/ddpm-runner/ddpm-runner/internal/shell"
	"github.com/ddpm-runner/ddpm-runner/report"
	"github.com/ddpm-runner/ddpm-runner/results"
)

// compareNav is the compare page's header above the report: the links of every page, and a
// form choosing the database, the runs (as runner report --spec, --status and --where) and
// the two groups to diff.
const compareNav = `{{define "nav"}}<nav class="serve"><a href="/">runs</a>{{if .Serve.Sweeps}} · <a href="/sweeps">sweeps</a>{{end}}</nav>
<form class="serve" method="get" action="/compare">
<label>database <select name="db">{{range $i, $d := .Serve.Databases}}<option value="{{$i}}"{{if eq $i $.Serve.DB}} selected{{end}}>{{$d}}</option>{{end}}</select></label>
<label>spec <input name="spec" value="{{.Serve.Filter.Spec}}" size="12"></label>
<label>status <input name="status" value="{{.Serve.Filter.Status}}" size="9"></label>
<label>where <input name="where" value="{{range .Serve.Filter.Where}}{{.}} {{end}}" size="24" placeholder="key=value ..."></label>
<label>diff A <select name="a"><option value="">-</option>{{range .Serve.Groups}}<option value="{{.GroupHash}}"{{if eq .GroupHash $.Serve.A}} selected{{end}}>{{.Label}} ({{printf "%.8s" .GroupHash}})</option>{{end}}</select></label>
<label>B <select name="b"><option value="">-</option>{{range .Serve.Groups}}<option value="{{.GroupHash}}"{{if eq .GroupHash $.Serve.B}} selected{{end}}>{{.Label}} ({{printf "%.8s" .GroupHash}})</option>{{end}}</select></label>
<button>show</button></form>
{{if gt (len .Serve.Databases) 1}}<p class="note">The groups of one database, <b>{{index .Serve.Databases .Serve.DB}}</b>; choose another above.
Groups in different databases are compared in a file: <code>{{.Serve.Merged}}</code> merges the databases as runner report does.</p>{{end}}
{{if .Serve.Error}}<p class="error">{{.Serve.Error}}</p>{{end}}{{end}}`

// comparePage is runner report's HTML page over one database's runs, under a form that
// chooses them and two groups to diff: the very page runner report --format html writes,
// so that the two never differ, its runs linked to their pages rather than drawn in it.
// It compares the groups of one database at a time: runner report compares several by
// merging them into a scratch database (results.Store.Merge), which copies every run's
// rows and checks each database whole, work a live page cannot repeat at every look while
// runs are written; the page says so and names the command.
func (s *Server) comparePage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	db, err := strconv.Atoi(q.Get("db"))
	if q.Get("db") == "" {
		db, err = 0, nil
	}
	if err != nil || db < 0 || db >= len(s.opts.Sources) {
		http.Error(w, fmt.Sprintf("no database %q: there are %d, numbered from 0", q.Get("db"), len(s.opts.Sources)), http.StatusNotFound)
		return
	}
	f, err := filterFrom(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	src := s.opts.Sources[db]
	runs, err := src.Store.Runs(results.Filter{Spec: f.Spec, Status: f.Status})
	if err != nil {
		http.Error(w, fmt.Sprintf("%s: %v", src.Name, err), http.StatusInternalServerError)
		return
	}
	groups := report.GroupRuns(report.FilterParams(runs, f.conds))
	var warn strings.Builder
	in := report.HTMLInput{Groups: groups, Store: src.Store, Warn: &warn}
	nav := map[string]any{"Databases": names(s.opts.Sources), "DB": db, "Filter": f, "Groups": groups, "Merged": mergedCommand(s.opts.Sources),
		"A": q.Get("a"), "B": q.Get("b"), "Sweeps": len(s.opts.Sweeps) > 0}
	if q.Get("a") != "" || q.Get("b") != "" {
		a, b, err := report.FindGroups(groups, q.Get("a"), q.Get("b"))
		if err != nil {
			nav["Error"] = "diff: " + err.Error()
		} else {
			in.Diff = &report.DiffInput{A: a, B: b}
		}
	}
	data, err := report.HTMLPage(in)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	data["Serve"] = nav
	data["RunList"] = runList(groups, func(id int64) string { return fmt.Sprintf("/run/%d/%d", db, id) })
	css, err := assets.ReadFile("assets/run.css")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	data["RunCSS"] = template.CSS(css)
	t, err := reportTemplate(compareNav)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := t.Execute(w, data); err != nil {
		fmt.Fprintf(w, "<p>%s</p>", template.HTMLEscapeString(err.Error()))
	}
}

// mergedCommand is the runner report command that compares the groups of every database.
func mergedCommand(srcs []Source) string {
	args := []string{"runner", "report"}
	for _, s := range srcs {
		args = append(args, "--db", s.Name)
	}
	return shell.Join(append(args, "--format", "html", "--out", "report.html"))
}

func names(srcs []Source) []string {
	var out []string
	for _, s := range srcs {
		out = append(out, s.Name)
	}
	return out
}
