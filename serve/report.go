package serve

import (
	"bufio"
	"fmt"
	"html/template"
	"io"
	"strings"
	"sync"

	"github.com/ddpm-runner/ddpm-runner/report"
)

// reportTemplate is runner report's page (report.PageTemplate) with its runs drawn by the
// run page's own templates, and nav as its header.
func reportTemplate(nav string) (*template.Template, error) {
	t, err := report.PageTemplate().Funcs(funcs).ParseFS(pageFiles, "pages/run.html", "pages/report.html")
	if err != nil {
		return nil, err
	}
	return t.Parse(nav + `{{define "runs"}}{{template "report-runs" .}}{{end}}{{define "style"}}{{template "report-style" .}}{{end}}`)
}

// runLink is one run in the list under the report: where its page or section is.
type runLink struct {
	ID            int64
	Href          string
	Label, Status string
	Seed          int
}

// runList lists the groups' runs, each linked to href(id).
func runList(groups []*report.Group, href func(int64) string) []runLink {
	var out []runLink
	esc := report.TerminalText
	for _, g := range groups {
		for _, r := range g.Runs {
			out = append(out, runLink{ID: r.ID, Href: href(r.ID), Label: esc(g.Label), Status: esc(r.Status), Seed: r.Seed})
		}
	}
	return out
}

// WriteReport writes runner report --format html: the groups' page (report.HTMLPage) as
// one self-contained file, and under it each run's section drawn by the run page's
// templates, its pictures inside the page. Nothing in it is fetched or run; every artifact
// is read as the run page reads it, and one left out is said in its run's section and on
// warn (once).
func WriteReport(w io.Writer, src Source, groups []*report.Group, warn io.Writer) error {
	warn = &onceWriter{w: warn, seen: map[string]bool{}}
	data, err := report.HTMLPage(report.HTMLInput{Groups: groups, Store: src.Store, Warn: warn})
	if err != nil {
		return err
	}
	s := New(Options{Sources: []Source{src}})
	var sections []*section
	for _, g := range groups {
		for _, r := range g.Runs {
			v, err := s.run(0, r.ID, true)
			if err != nil {
				return err
			}
			for _, line := range v.Warnings {
				fmt.Fprintln(warn, "warning: "+line)
			}
			sections = append(sections, v.sec)
		}
	}
	data["RunList"] = runList(groups, func(id int64) string { return fmt.Sprintf("#run-%d", id) })
	data["Sections"] = sections
	css, err := assets.ReadFile("assets/run.css")
	if err != nil {
		return err
	}
	data["RunCSS"] = template.CSS(css)
	t, err := reportTemplate("")
	if err != nil {
		return err
	}
	return t.Execute(w, data)
}

// onceWriter writes each line once: the groups' figures and a run's section may both find
// the same artifact wanting.
type onceWriter struct {
	mu   sync.Mutex
	w    io.Writer
	seen map[string]bool
}

func (o *onceWriter) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.w == nil {
		return len(p), nil
	}
	sc := bufio.NewScanner(strings.NewReader(string(p)))
	for sc.Scan() {
		if line := sc.Text(); !o.seen[line] {
			o.seen[line] = true
			if _, err := fmt.Fprintln(o.w, line); err != nil {
				return 0, err
			}
		}
	}
	return len(p), nil
}
