package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"time"

	urfave "github.com/urfave/cli/v2"

	"github.com/ddpm-runner/ddpm-runner/engine"
	"github.com/ddpm-runner/ddpm-runner/report"
	"github.com/ddpm-runner/ddpm-runner/results"
	"github.com/ddpm-runner/ddpm-runner/serve"
	"github.com/ddpm-runner/ddpm-runner/sweep"
)

func serveCommand() *urfave.Command {
	return withUsageErrors(&urfave.Command{
		Name:  "serve",
		Usage: "watch and compare runs in a browser while they train (read-only)",
		Description: "A local web application over the databases (opened read-only; nothing it answers writes):\n" +
			"the runs with their progress, rate, ETA and heartbeat, each run's curves, samples and provenance,\n" +
			"runner report's comparison with a diff of two groups, and the trials of sweep folders. The pages\n" +
			"update themselves while runs are live; they load nothing from the network.",
		Flags: []urfave.Flag{
			&urfave.StringSliceFlag{Name: "db", EnvVars: []string{"RUNNER_DB"}, Value: urfave.NewStringSlice(results.DefaultPath),
				Usage: "SQLite results database (repeatable: each is shown, numbered from 0)"},
			&urfave.StringSliceFlag{Name: "sweep", Usage: "a sweep folder made by runner submit, whose trials to show (repeatable)"},
			&urfave.StringFlag{Name: "addr", Value: "127.0.0.1:8080", Usage: "address to listen on; 0.0.0.0:PORT shows the runs to every machine that can reach this one"},
			&urfave.DurationFlag{Name: "poll", Value: 2 * time.Second, Usage: "how often the pages ask for news while runs are live"},
		},
		Action: func(c *urfave.Context) error {
			return runServe(c.Context, serveOptionsFrom(c), globalOptionsFrom(c), c.Args().Slice())
		},
	})
}

// serveOptions are runner serve's flags.
type serveOptions struct {
	dbs    []string
	sweeps []string
	addr   string
	poll   time.Duration
}

func serveOptionsFrom(c *urfave.Context) serveOptions {
	return serveOptions{dbs: c.StringSlice("db"), sweeps: c.StringSlice("sweep"), addr: c.String("addr"), poll: c.Duration("poll")}
}

// runServe opens every database read-only and every sweep folder, listens on opts.addr and
// serves until ctx ends or a stop signal comes. A database or folder that cannot be opened
// is bad input, said before anything listens.
func runServe(ctx context.Context, opts serveOptions, gopts globalOptions, args []string) error {
	if len(args) > 0 {
		return usagef("serve takes no arguments, got %q (give databases with --db)", args[0])
	}
	var srcs []serve.Source
	defer func() {
		for _, s := range srcs {
			s.Store.Close()
		}
	}()
	for _, p := range opts.dbs {
		if _, err := os.Stat(p); err != nil {
			return usagef("--db %s: no results database there (run `runner run SPEC` first, or give --db)", p)
		}
		s, err := results.OpenReadOnly(p)
		if err != nil {
			return usagef("--db %s: %v", p, err)
		}
		srcs = append(srcs, serve.Source{Name: p, Store: s})
	}
	var sweeps []serve.Sweep
	for _, dir := range opts.sweeps {
		f, err := sweep.Open(dir)
		if err != nil {
			return usagef("--sweep %s: %v", dir, err)
		}
		sweeps = append(sweeps, serve.Sweep{Dir: dir, States: func() ([]serve.SweepRow, error) { return sweepRows(f) }})
	}
	if opts.poll < 0 {
		return usagef("--poll %s: want a positive duration, for example 2s", opts.poll)
	}
	host, _, err := net.SplitHostPort(opts.addr)
	if err != nil {
		return usagef("--addr %q: want HOST:PORT, for example 127.0.0.1:8080", opts.addr)
	}
	ln, err := net.Listen("tcp", opts.addr)
	if err != nil {
		return usagef("--addr %s: %v", opts.addr, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		fmt.Fprintf(gopts.stderr, "warning: --addr %s listens on every network interface: anyone who can reach this machine can read the runs, "+
			"their params, provenance (host names, paths, versions), metrics and samples of %s; nothing can be written through it\n",
			opts.addr, strings.Join(opts.dbs, ", "))
	}
	app := serve.New(serve.Options{Sources: srcs, Sweeps: sweeps, Crashed: engine.LooksCrashed, Poll: opts.poll})
	app.Warm()
	srv := &http.Server{Handler: app,
		ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(gopts.stdout, "serving %s on http://%s/ (stop with Ctrl-C)\n", strings.Join(opts.dbs, ", "), ln.Addr())
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, stopSignals()...)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shut); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// sweepRows is each trial of a sweep folder as runner sweep status shows it: the state of
// its shard, or Slurm's for a trial still queued; an unreadable shard is its row's error.
func sweepRows(f *sweep.Folder) ([]serve.SweepRow, error) {
	queued, qerr := queuedTasks(f)
	var rows []serve.SweepRow
	for _, st := range f.States() {
		row := serve.SweepRow{Trial: st.Index, Spec: "?", Seed: "?", State: st.Status, Run: st.RunID, Slurm: queued[st.Index]}
		if q := queued[st.Index]; q != "" && !st.Done() {
			row.State = strings.ToLower(q)
		}
		if row.State == "" {
			row.State = "not started"
		}
		if st.Err != nil {
			row.Error = report.TerminalText(st.Err.Error())
		}
		if t := f.Trial(st.Index); t != nil {
			row.Spec, row.Seed = t.Spec, fmt.Sprint(t.Seed)
		}
		rows = append(rows, row)
	}
	if qerr != nil {
		return rows, fmt.Errorf("squeue could not be asked (%v); queue states are not shown", qerr)
	}
	return rows, nil
}
