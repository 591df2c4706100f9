package cli

import (
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ddpm-runner/ddpm-runner/plugins"
	"github.com/ddpm-runner/ddpm-runner/results"
)

// withProbeValues declares, for one test, a value of the weights and a speed of the machine
// that no name list in the command line knows, as a metric of another module would declare
// them. They go in through plugins.RunReports, which plugins.Reported reads as it reads a
// metric's declarations: a metric registered here would stay in the registry, and in the
// spec reference that TestSpecReferenceMatchesRegistry holds to it.
func withProbeValues(t *testing.T) {
	old := plugins.RunReports
	plugins.RunReports = append(slices.Clone(old),
		plugins.Report{Key: "probe_weights", Better: plugins.LowerIsBetter, From: plugins.FromWeights, Doc: "a value of the weights"},
		plugins.Report{Key: "probe_speed", Better: plugins.HigherIsBetter, From: plugins.FromMachine, Doc: "a speed"})
	t.Cleanup(func() { plugins.RunReports = old })
}

// probeStore is a database of finished runs, one per summaries given, in group g at seed i.
func probeStore(t *testing.T, runs ...map[string]float64) (*results.Store, string) {
	t.Helper()
	db := filepath.Join(t.TempDir(), "runs.db")
	s, err := results.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	for i, sums := range runs {
		g := []string{"aaaa0000", "bbbb0000"}[i%2]
		id, err := s.CreateRun(results.NewRun{Spec: "probe", Hash: g, GroupHash: g, Resolved: "{}", Seed: i / 2,
			Params: map[string]string{"variant": g}})
		if err != nil {
			t.Fatal(err)
		}
		must(t, s.SetSummaries(id, sums))
		must(t, s.EndRun(id, results.StatusFinished, ""))
	}
	return s, db
}

// TestVerifyFollowsTheValuesSource: rerun --verify holds every value to its bits but those
// that measure the machine, as the metric declares them.
func TestVerifyFollowsTheValuesSource(t *testing.T) {
	cases := []struct {
		name    string
		rerun   map[string]float64
		verdict string
	}{
		{"the same", map[string]float64{"probe_weights": 1, "probe_speed": 5}, "identical"},
		{"another speed", map[string]float64{"probe_weights": 1, "probe_speed": 7}, "identical"},
		{"another value of the weights", map[string]float64{"probe_weights": math.Nextafter(1, 2), "probe_speed": 5},
			"differs: summary probe_weights"},
	}
	withProbeValues(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, _ := probeStore(t, map[string]float64{"probe_weights": 1, "probe_speed": 5}, c.rerun)
			got, err := verify(s, 1, 2)
			if err != nil || !strings.HasPrefix(got, c.verdict) {
				t.Errorf("verdict %q (%v), want %q", got, err, c.verdict)
			}
		})
	}
}

// TestReportDiffLeavesOutTheMachine: report --diff lists a value of the weights and not a
// speed of the machine.
func TestReportDiffLeavesOutTheMachine(t *testing.T) {
	withProbeValues(t)
	var runs []map[string]float64
	for seed := range 3 {
		for g := range 2 {
			v := float64(10 + seed - g)
			runs = append(runs, map[string]float64{"probe_weights": v, "probe_speed": v})
		}
	}
	_, db := probeStore(t, runs...)
	code, out, errOut := runCLI(t, "report", "--db", db, "--diff", "aaaa", "bbbb")
	if code != 0 || !strings.Contains(out, "probe_weights") || strings.Contains(out, "probe_speed") {
		t.Errorf("exit %d; want probe_weights listed and probe_speed not:\n%s%s", code, out, errOut)
	}
}
