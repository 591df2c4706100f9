package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	urfave "github.com/urfave/cli/v2"

	"github.com/ddpm-runner/ddpm-runner/diffusion"
	"github.com/ddpm-runner/ddpm-runner/plugins"
)

// scheduleColumns is the exact CSV header of `runner schedule --format csv`.
var scheduleColumns = []string{"t", "beta", "alpha_bar", "alpha_bar_prev", "posterior_variance",
	"posterior_log_variance_clipped", "posterior_mean_coef1", "posterior_mean_coef2"}

func scheduleCommand() *urfave.Command {
	return withUsageErrors(&urfave.Command{
		Name:      "schedule",
		Usage:     "print the per-step table of a beta schedule",
		ArgsUsage: "NAME",
		Description: "Prints t = 0..T-1 with beta, alpha_bar, alpha_bar_prev, the posterior variance, its clipped log\n" +
			"and the posterior mean coefficients, all in float64 (%.17g in csv and json).",
		Flags: []urfave.Flag{
			&urfave.IntFlag{Name: "T", Value: 1000, Usage: "number of diffusion steps"},
			&urfave.StringSliceFlag{Name: "set", Usage: "schedule parameter as key=value (repeatable)"},
			&urfave.StringFlag{Name: "format", Value: "table", Usage: "table, csv or json"},
		},
		Action: func(c *urfave.Context) error {
			if c.NArg() != 1 {
				return usagef("schedule needs exactly one NAME (registered: %s)", strings.Join(plugins.Names(plugins.KindSchedule), ", "))
			}
			raw := map[string]any{}
			for _, s := range c.StringSlice("set") {
				k, v, ok := strings.Cut(s, "=")
				if !ok {
					return usagef("--set %q: want key=value", s)
				}
				raw[strings.TrimPrefix(k, "schedule.")] = parseScalar(v)
			}
			if c.Int("T") < 1 {
				return usagef("--T %d: want T >= 1", c.Int("T"))
			}
			built, err := plugins.Build(plugins.KindSchedule, c.Args().First(), raw)
			if err != nil {
				return usagef("%v", err)
			}
			betas, err := built.(plugins.Schedule).Betas(c.Int("T"))
			if err != nil {
				return usagef("%v", err)
			}
			p, err := diffusion.NewProcess(betas)
			if err != nil {
				return usagef("%v", err)
			}
			return writeSchedule(c.App.Writer, p, c.String("format"))
		},
	})
}

// parseScalar reads a --set value: a number when it parses as one, else a bool, else text.
func parseScalar(v string) any {
	if i, err := strconv.ParseInt(v, 10, 64); err == nil {
		return i
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		return f
	}
	if b, err := strconv.ParseBool(v); err == nil {
		return b
	}
	return v
}

func scheduleRow(p *diffusion.Process, t int) []float64 {
	return []float64{p.Betas[t], p.AlphaBar[t], p.AlphaBarPrev[t], p.PosteriorVariance[t],
		p.PosteriorLogVarianceClipped[t], p.PosteriorMeanCoef1[t], p.PosteriorMeanCoef2[t]}
}

func writeSchedule(w io.Writer, p *diffusion.Process, format string) error {
	full := func(v float64) string { return fmt.Sprintf("%.17g", v) }
	switch format {
	case "csv":
		fmt.Fprintln(w, strings.Join(scheduleColumns, ","))
		for t := range p.T {
			cells := []string{strconv.Itoa(t)}
			for _, v := range scheduleRow(p, t) {
				cells = append(cells, full(v))
			}
			fmt.Fprintln(w, strings.Join(cells, ","))
		}
	case "json":
		rows := make([]map[string]json.Number, p.T)
		for t := range p.T {
			row := map[string]json.Number{"t": json.Number(strconv.Itoa(t))}
			for i, v := range scheduleRow(p, t) {
				row[scheduleColumns[i+1]] = json.Number(full(v))
			}
			rows[t] = row
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	case "table":
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, strings.Join(scheduleColumns, "\t")+"\t")
		for t := range p.T {
			cells := []string{strconv.Itoa(t)}
			for _, v := range scheduleRow(p, t) {
				cells = append(cells, fmt.Sprintf("%.6g", v))
			}
			fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
		}
		return tw.Flush()
	default:
		return usagef("--format %q: want table, csv or json", format)
	}
	return nil
}
