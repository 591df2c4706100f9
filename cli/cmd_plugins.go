package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	urfave "github.com/urfave/cli/v2"

	"github.com/ddpm-runner/ddpm-runner/plugins"
	"github.com/ddpm-runner/ddpm-runner/report"
	"github.com/ddpm-runner/ddpm-runner/spec"
)

func pluginsCommand() *urfave.Command {
	return withUsageErrors(&urfave.Command{
		Name:      "plugins",
		Usage:     "list every registered plugin with its parameters",
		ArgsUsage: "[KIND]",
		Description: "KIND is one of " + kindNames() + ".\n" +
			"Each parameter is shown with its type, default, allowed range and a one-line doc.\n" +
			"--format markdown prints the same as Markdown tables; without KIND it is the spec reference\n" +
			"(docs/spec-reference.md), which also lists the keys of [train] and [eval] and the values every run records.",
		Flags: []urfave.Flag{
			&urfave.StringFlag{Name: "format", Value: "table", Usage: "table or markdown"},
		},
		Action: func(c *urfave.Context) error {
			kinds := plugins.Kinds()
			format := c.String("format")
			if format != "table" && format != "markdown" {
				return usagef("--format %q: want table or markdown", format)
			}
			if c.NArg() > 1 {
				return usagef("plugins takes at most one KIND")
			}
			if c.NArg() == 1 {
				k, err := plugins.ParseKind(c.Args().First())
				if err != nil {
					return usagef("%v", err)
				}
				info, _ := plugins.Info(k)
				kinds = []plugins.KindInfo{info}
			}
			if format == "markdown" {
				writeSpecReference(c.App.Writer, kinds, c.NArg() == 0)
				return nil
			}
			printPlugins(c.App.Writer, kinds)
			return nil
		},
	})
}

func printPlugins(w io.Writer, kinds []plugins.KindInfo) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, k := range kinds {
		fmt.Fprintf(tw, "%s plugins: %s (chosen by %s)\n", k.Kind, k.Doc, k.Selector())
		names := plugins.Names(k.Kind)
		if len(names) == 0 {
			fmt.Fprintf(tw, "  (none registered)\n")
		}
		if len(k.Common) > 0 {
			fmt.Fprintf(tw, "  keys every %s takes:\n", k.Kind)
			printParams(tw, k.Common)
		}
		for _, n := range names {
			p, _ := plugins.Lookup(k.Kind, n)
			fmt.Fprintf(tw, "  %s\t%s\n", n, p.Doc)
			printParams(tw, p.Params)
			for _, r := range p.Reports {
				better := "not ranked"
				if r.Better != plugins.NotRanked {
					better = string(r.Better) + " is better"
				}
				fmt.Fprintf(tw, "    reports %s\t%s\t%s\t%s\n", r.Key, better, r.Unit, r.Doc)
			}
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}

func printParams(tw io.Writer, ps []plugins.Param) {
	for _, d := range ps {
		fmt.Fprintf(tw, "    %s\t%s\tdefault %s\t%s\t%s\n", d.Name, d.Type, spec.FormatValue(d.Default), d.Range(), d.Doc)
	}
}

// writeSpecReference writes the kinds' plugins, their parameters and the values metrics
// report as Markdown; with whole set it starts with the spec's own tables and the values every
// run records, which makes it the whole spec reference (docs/spec-reference.md, which a test
// holds to this output).
func writeSpecReference(w io.Writer, kinds []plugins.KindInfo, whole bool) {
	if whole {
		fmt.Fprintf(w, "## [train]\n\nHow the model is trained.\n\n")
		writeParamTable(w, spec.TrainParams)
		fmt.Fprintf(w, "## [eval]\n\nWhat is evaluated after training; `metrics` names metric plugins (below).\n\n")
		writeParamTable(w, spec.EvalParams)
		fmt.Fprintf(w, "## Values every run records\n\nBesides its metrics' values, the engine records these for every run.\n\n")
		writeReportTable(w, plugins.RunReports)
	}
	for _, k := range kinds {
		fmt.Fprintf(w, "## %s plugins\n\n%s, chosen by `%s`", k.Kind, report.MarkdownText(k.Doc), k.Selector())
		if k.Default != "" {
			fmt.Fprintf(w, " (default `%s`)", k.Default)
		}
		fmt.Fprintf(w, ".\n\n")
		if len(k.Common) > 0 {
			fmt.Fprintf(w, "Keys every %s takes:\n\n", k.Kind)
			writeParamTable(w, k.Common)
		}
		names := plugins.Names(k.Kind)
		if len(names) == 0 {
			fmt.Fprintf(w, "(none registered)\n\n")
		}
		for _, n := range names {
			p, _ := plugins.Lookup(k.Kind, n)
			fmt.Fprintf(w, "### %s %s\n\n%s\n\n", k.Kind, codeCell(n), report.MarkdownText(p.Doc))
			if len(p.Params) > 0 {
				writeParamTable(w, p.Params)
			}
			if len(p.Reports) > 0 {
				writeReportTable(w, p.Reports)
			}
		}
	}
}

func writeParamTable(w io.Writer, ps []plugins.Param) {
	fmt.Fprintf(w, "| key | type | default | allowed | doc |\n|---|---|---|---|---|\n")
	for _, d := range ps {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", codeCell(d.Name), codeCell(d.Type.String()),
			codeCell(spec.FormatValue(d.Default)), codeCell(d.Range()), report.MarkdownText(d.Doc))
	}
	fmt.Fprintln(w)
}

func writeReportTable(w io.Writer, rs []plugins.Report) {
	fmt.Fprintf(w, "| value | better | unit | doc |\n|---|---|---|---|\n")
	for _, r := range rs {
		better := "not ranked"
		if r.Better != plugins.NotRanked {
			better = string(r.Better)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", codeCell(r.Key), better, report.MarkdownText(r.Unit), report.MarkdownText(r.Doc))
	}
	fmt.Fprintln(w)
}

// codeCell writes s as a code span in a Markdown table cell. A pipe would end the cell even
// there, so it is escaped; a backtick is written as an apostrophe, since a code span cannot
// hold its own delimiter. An empty string is shown as "", since an empty code span is not one.
func codeCell(s string) string {
	if s == "" {
		s = `""`
	}
	s = strings.NewReplacer("|", "\\|", "`", "'").Replace(report.TerminalText(s))
	return "`" + s + "`"
}

// kindNames lists the declared plugin kinds, for the help text.
func kindNames() string {
	var names []string
	for _, k := range plugins.Kinds() {
		names = append(names, string(k.Kind))
	}
	return strings.Join(names, ", ")
}
