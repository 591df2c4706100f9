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
	"github.com/ddpm-runner/ddpm-runner/engine"
	"github.com/ddpm-runner/ddpm-runner/plugins"
	"github.com/ddpm-runner/ddpm-runner/spec"
)

// scheduleColumns is the exact CSV header of `runner schedule --format csv`.
var scheduleColumns = []string{"t", "beta", "alpha_bar", "alpha_bar_prev", "posterior_variance",
	"posterior_log_variance_clipped", "posterior_mean_coef1", "posterior_mean_coef2"}

// respacedColumns is the CSV header of `runner schedule --steps K`: the respaced chain's step
// i, the original timestep t it visits, and the respaced process's quantities at step i.
var respacedColumns = append([]string{"i"}, scheduleColumns...)

func scheduleCommand() *urfave.Command {
	return withUsageErrors(&urfave.Command{
		Name:      "schedule",
		Usage:     "print the per-step table of a beta schedule",
		ArgsUsage: "NAME",
		Description: "Prints t = 0..T-1 with beta, alpha_bar, alpha_bar_prev, the posterior variance, its clipped log\n" +
			"and the posterior mean coefficients, all in float64 (%.17g in csv and json). The process is the one a\n" +
			"run with [schedule] name = NAME and these keys trains on: every [schedule] key works, the keys every\n" +
			"schedule takes (T, zero_terminal_snr) and NAME's own (runner plugins schedule lists them).\n\n" +
			"With --steps K it prints the chain a sampler of K steps runs instead: for i = 0..K-1 the original timestep\n" +
			"t it visits (chosen by --spacing), and the respaced process at step i, whose alpha_bar is the original\n" +
			"alpha_bar_t and whose beta is 1 - alpha_bar_t / alpha_bar of the previous kept step.",
		Flags: []urfave.Flag{
			&urfave.IntFlag{Name: "T", Value: 1000, Usage: "number of diffusion steps (the same as --set T=N)"},
			&urfave.StringSliceFlag{Name: "set", Usage: "a [schedule] key as KEY=VALUE or schedule.KEY=VALUE, the value as in a spec (repeatable)"},
			&urfave.StringFlag{Name: "format", Value: "table", Usage: "table, csv or json"},
			&urfave.IntFlag{Name: "steps", Usage: "print the respaced chain of this many steps (as [sample] steps)"},
			&urfave.StringFlag{Name: "spacing", Value: "linspace", Usage: "which timesteps --steps keeps (as [sample] spacing)"},
		},
		Action: func(c *urfave.Context) error {
			if c.NArg() != 1 {
				return usagef("schedule needs exactly one NAME (registered: %s)", strings.Join(plugins.Names(plugins.KindSchedule), ", "))
			}
			p, err := scheduleProcess(c.Args().First(), c.Int("T"), c.IsSet("T"), c.StringSlice("set"))
			if err != nil {
				return err
			}
			if !c.IsSet("steps") {
				if c.IsSet("spacing") {
					return usagef("--spacing %s: it chooses the timesteps of --steps; give --steps K too", c.String("spacing"))
				}
				return writeSchedule(c.App.Writer, p, c.String("format"))
			}
			q, ts, err := respacedChain(p, c.Int("steps"), c.String("spacing"))
			if err != nil {
				return err
			}
			return writeRespaced(c.App.Writer, q, ts, c.String("format"))
		},
	})
}

// scheduleProcess resolves schedule name with the given keys as a spec with only that
// [schedule] table (every other table at its defaults) and derives the process a run of it
// would train on. T counts only when setT.
func scheduleProcess(name string, T int, setT bool, sets []string) (*diffusion.Process, error) {
	table := map[string]any{"name": name}
	if setT {
		if T < 1 {
			return nil, usagef("--T %d: want T >= 1", T)
		}
		table["T"] = int64(T)
	}
	keys := make([]string, len(sets))
	for i, s := range sets {
		key, _, _ := strings.Cut(s, "=")
		key = strings.TrimSpace(key)
		if !strings.Contains(key, ".") {
			s = "schedule." + strings.TrimSpace(s)
		} else if !strings.HasPrefix(key, "schedule.") {
			return nil, usagef("--set %s: runner schedule takes [schedule] keys only (KEY=VALUE or schedule.KEY=VALUE)", s)
		}
		if setT && (key == "T" || key == "schedule.T") {
			return nil, usagef("--set %s: T is given by --T already; give it once", s)
		}
		keys[i] = s
	}
	trials, err := spec.Resolve("runner schedule", map[string]any{"schedule": table}, keys)
	if err != nil {
		return nil, usagef("%v", err)
	}
	p, err := engine.NewProcess(trials[0])
	if err != nil {
		return nil, usagef("%v", err)
	}
	return p, nil
}

// respacedChain is the chain the respaced sampler plugin runs with these steps and spacing,
// built through the registry so that the command shows what a run samples with.
func respacedChain(p *diffusion.Process, steps int, spacing string) (*diffusion.Process, []int, error) {
	if steps < 1 || steps > p.T {
		return nil, nil, usagef("--steps %d: want 1 <= steps <= T = %d", steps, p.T)
	}
	s, err := plugins.Build(plugins.KindSampler, "respaced", map[string]any{"steps": int64(steps), "spacing": spacing})
	if err != nil {
		return nil, nil, usagef("--spacing %s: %v", spacing, err)
	}
	q, ts, err := s.(plugins.Sampler).Plan(p)
	if err != nil {
		return nil, nil, usagef("--steps %d --spacing %s: %v", steps, spacing, err)
	}
	return q, ts, nil
}

func scheduleRow(p *diffusion.Process, t int) []float64 {
	return []float64{p.Betas[t], p.AlphaBar[t], p.AlphaBarPrev[t], p.PosteriorVariance[t],
		p.PosteriorLogVarianceClipped[t], p.PosteriorMeanCoef1[t], p.PosteriorMeanCoef2[t]}
}

func writeSchedule(w io.Writer, p *diffusion.Process, format string) error {
	return writeChain(w, scheduleColumns, p.T, func(t int) []int { return []int{t} }, p, format)
}

// writeRespaced prints the respaced chain q that visits the original timesteps ts, in the
// formats of writeSchedule with the step i in front.
func writeRespaced(w io.Writer, q *diffusion.Process, ts []int, format string) error {
	return writeChain(w, respacedColumns, len(ts), func(i int) []int { return []int{i, ts[i]} }, q, format)
}

// writeChain prints n rows of a chain's table: row r is its integer columns lead(r)
// followed by scheduleRow(p, r), under the given columns, as csv and json (every value to
// %.17g) or an aligned table (%.6g).
func writeChain(w io.Writer, columns []string, n int, lead func(r int) []int, p *diffusion.Process, format string) error {
	full := func(v float64) string { return fmt.Sprintf("%.17g", v) }
	cells := func(r int, value func(float64) string) []string {
		var out []string
		for _, k := range lead(r) {
			out = append(out, strconv.Itoa(k))
		}
		for _, v := range scheduleRow(p, r) {
			out = append(out, value(v))
		}
		return out
	}
	switch format {
	case "csv":
		fmt.Fprintln(w, strings.Join(columns, ","))
		for r := range n {
			fmt.Fprintln(w, strings.Join(cells(r, full), ","))
		}
		return nil
	case "json":
		rows := make([]map[string]json.Number, n)
		for r := range n {
			rows[r] = map[string]json.Number{}
			for c, v := range cells(r, full) {
				rows[r][columns[c]] = json.Number(v)
			}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	case "table":
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, strings.Join(columns, "\t")+"\t")
		for r := range n {
			fmt.Fprintln(tw, strings.Join(cells(r, func(v float64) string { return fmt.Sprintf("%.6g", v) }), "\t")+"\t")
		}
		return tw.Flush()
	default:
		return usagef("--format %q: want table, csv or json", format)
	}
}
