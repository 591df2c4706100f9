package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	urfave "github.com/urfave/cli/v2"

	"github.com/ddpm-runner/ddpm-runner/plugins"
	"github.com/ddpm-runner/ddpm-runner/spec"
)

func pluginsCommand() *urfave.Command {
	return withUsageErrors(&urfave.Command{
		Name:      "plugins",
		Usage:     "list every registered plugin with its parameters",
		ArgsUsage: "[KIND]",
		Description: "KIND is one of " + kindNames() + ".\n" +
			"Each parameter is shown with its type, default, allowed range and a one-line doc.",
		Action: func(c *urfave.Context) error {
			kinds := plugins.Kinds()
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

// kindNames lists the declared plugin kinds, for the help text.
func kindNames() string {
	var names []string
	for _, k := range plugins.Kinds() {
		names = append(names, string(k.Kind))
	}
	return strings.Join(names, ", ")
}
