package serve

import (
	"flag"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/ddpm-runner/ddpm-runner/results"
)

// scripts/serve-measure writes its store with
// go test ./serve -run '^TestWriteLargeStore$' -large-store PATH.
var largeStore = flag.String("large-store", "", "write a store of 2,000 runs with 1,000 logged steps each at this path (scripts/serve-measure)")

// TestWriteLargeStore writes, through the results API as runs write it, the store that
// scripts/serve-measure serves: 2,000 runs in 20 groups of 100 seeds, each with 40 params,
// 15 env entries, 12 summaries and its loss logged at 1,000 steps; the last 20 runs are
// left running. It does nothing without -large-store.
func TestWriteLargeStore(t *testing.T) {
	if *largeStore == "" {
		t.Skip("give -large-store PATH to write the store that scripts/serve-measure serves")
	}
	s, err := results.Open(*largeStore)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.ClaimArtifactRoot(); err != nil {
		t.Fatal(err)
	}
	const runs, steps = 2000, 1000
	for i := 0; i < runs; i++ {
		group := i % 20
		params := map[string]string{"train.steps": strconv.Itoa(steps), "seed": strconv.Itoa(i / 20),
			"schedule.name": []string{"linear", "cosine"}[group%2], "train.lr": fmt.Sprint(1e-4 * float64(1+group/2))}
		for k := 0; k < 36; k++ {
			params[fmt.Sprintf("plugin.key%02d", k)] = fmt.Sprintf("value-%d", k)
		}
		env := map[string]string{}
		for k := 0; k < 15; k++ {
			env[fmt.Sprintf("env.key%02d", k)] = fmt.Sprintf("/some/path/of/provenance/%d", k)
		}
		id, err := s.CreateRun(results.NewRun{Spec: "large", SpecFile: filepath.Join("experiments", "large.toml"),
			Hash: fmt.Sprintf("h%d", i), GroupHash: fmt.Sprintf("g%02d", group), Seed: i / 20, Params: params, Env: env})
		if err != nil {
			t.Fatal(err)
		}
		mw := s.Metrics(id, steps)
		for step := 1; step <= steps; step++ {
			if err := mw.Add("loss", step, 1/float64(step)+float64(group)*1e-3); err != nil {
				t.Fatal(err)
			}
		}
		if err := mw.Flush(); err != nil {
			t.Fatal(err)
		}
		if i >= runs-20 {
			continue
		}
		sums := map[string]float64{}
		for _, k := range []string{"final_loss", "fid", "is", "nll_bits_per_dim", "nll_nats_per_dim", "nfe", "frechet", "mmd",
			"chamfer", "steps_per_sec", "samples_per_sec", "seconds_per_sample"} {
			sums[k] = float64(i%97) / 97
		}
		if err := s.SetSummaries(id, sums); err != nil {
			t.Fatal(err)
		}
		if err := s.EndRun(id, results.StatusFinished, ""); err != nil {
			t.Fatal(err)
		}
	}
}
