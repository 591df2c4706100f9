package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/ddpm-runner/ddpm-runner/plugins"
	"github.com/ddpm-runner/ddpm-runner/spec"
)

func pluginsCommand() *cli.Command {
	return withUsageErrors(&cli.Command{
		Name:      "plugins",
		Usage:     "list every registered plugin with its parameters",
		ArgsUsage: "[KIND]",
		Description: "KIND is one of schedule, predictor, loss, dataset, network, sampler, metric.\n" +
			"Each parameter is shown with its type, default, allowed range and a one-line doc.",
		Action: func(c *cli.Context) error {
			kinds := plugins.Kinds()
			if c.NArg() > 1 {
				return usagef("plugins takes at most one KIND")
			}
			if c.NArg() == 1 {
				k, err := plugins.ParseKind(c.Args().First())
				if err != nil {
					return usagef("%v", err)
				}
				kinds = []plugins.Kind{k}
			}
			printPlugins(c.App.Writer, kinds)
			return nil
		},
	})
}

func printPlugins(w io.Writer, kinds []plugins.Kind) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, k := range kinds {
		fmt.Fprintf(tw, "%s plugins (spec table [%s]):\n", k, tableOf(k))
		names := plugins.Names(k)
		if len(names) == 0 {
			fmt.Fprintf(tw, "  (none registered)\n")
		}
		common := spec.CommonParams(k)
		if len(common) > 0 {
			fmt.Fprintf(tw, "  keys every %s takes:\n", k)
			printParams(tw, common)
		}
		for _, n := range names {
			p, _ := plugins.Lookup(k, n)
			fmt.Fprintf(tw, "  %s\t%s\n", n, p.Doc)
			printParams(tw, p.Params)
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

func tableOf(k plugins.Kind) string {
	switch k {
	case plugins.KindDataset:
		return "data"
	case plugins.KindSampler:
		return "sample"
	case plugins.KindMetric:
		return "eval] metrics = [..."
	}
	return string(k)
}
