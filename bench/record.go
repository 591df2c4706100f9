package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/ddpm-runner/ddpm-runner/backend"
	"github.com/ddpm-runner/ddpm-runner/engine"
	"github.com/ddpm-runner/ddpm-runner/results"
	"github.com/ddpm-runner/ddpm-runner/spec"
)

// RecordConfig times one config through a bare trainer loop, then through the runner, and
// records the numbers as a run; both compute on the go backend's kernel.
func RecordConfig(store *results.Store, name, text string, steps int, kernel backend.Kernel) (map[string]float64, error) {
	trials, err := spec.Parse(name+".toml", []byte(fmt.Sprintf("name = \"bench\"\n%s", text)),
		[]string{fmt.Sprintf("train.steps=%d", steps+1), "train.checkpoint_every=0", "train.log_every=10",
			"train.ema=0.99", "sample.n=64", "sample.name=respaced", "sample.steps=20", "eval.metrics=[]"})
	if err != nil {
		return nil, err
	}
	job, err := engine.Prepare(trials[0])
	if err != nil {
		return nil, err
	}
	// Bare loop: the same trainer and batches, nothing around them.
	b, err := backend.New(backend.Choice{Config: "go", Kernel: kernel})
	if err != nil {
		return nil, err
	}
	defer b.Finalize()
	bare, err := BareLoop(b, job, steps)
	if err != nil {
		return nil, err
	}
	out := engine.Run(context.Background(), job, engine.Options{Store: store, Kernel: kernel})
	// A bench run's checkpoints and samples are of no use later: only its numbers are kept.
	defer os.RemoveAll(filepath.Join(store.ArtifactRoot(), strconv.FormatInt(out.RunID, 10)))
	if out.Err != nil {
		return nil, out.Err
	}
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	res := map[string]float64{
		"runner_steps_per_sec": out.Summaries["steps_per_sec"],
		"bare_steps_per_sec":   float64(steps) / bare.Seconds(),
		"samples_per_sec":      out.Summaries["samples_per_sec"],
		"peak_rss_mib":         float64(ru.Maxrss) / 1024,
	}
	res["overhead_percent"] = 100 * (res["bare_steps_per_sec"]/res["runner_steps_per_sec"] - 1)
	if err := store.SetSummaries(out.RunID, res); err != nil {
		return nil, err
	}
	return res, store.AddEnv(out.RunID, map[string]string{"bench.config": name})
}

// SQLiteWrites is the metric-write throughput of a fresh results database at path (removed
// afterwards): the rows written, in batches of 256, and rows per second.
func SQLiteWrites(path string) (int, float64, error) {
	defer os.Remove(path)
	defer os.Remove(path + "-wal")
	defer os.Remove(path + "-shm")
	s, err := results.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer s.Close()
	id, err := s.CreateRun(results.NewRun{Spec: "bench-sqlite", Resolved: "{}"})
	if err != nil {
		return 0, 0, err
	}
	const rows = 100000
	start := time.Now()
	mw := s.Metrics(id, 256)
	for i := range rows {
		if err := mw.Add("loss", i, float64(i)); err != nil {
			return 0, 0, err
		}
	}
	if err := mw.Flush(); err != nil {
		return 0, 0, err
	}
	return rows, rows / time.Since(start).Seconds(), nil
}
