package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPluginsMetricShowsWhatEachValueMeans: every reported value with its direction, unit and
// doc, as the metric declares them.
func TestPluginsMetricShowsWhatEachValueMeans(t *testing.T) {
	code, out, errOut := runCLI(t, "plugins", "metric")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"chosen by [eval] metrics", "reports fid ", "lower is better",
		"reports is ", "higher is better", "reports fid_data_floor", "not ranked", "bits/dim"} {
		if !strings.Contains(out, want) {
			t.Errorf("plugins metric lacks %q:\n%s", want, out)
		}
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "reports is ") && !strings.Contains(line, "higher is better") {
			t.Errorf("is is not higher-is-better: %q", line)
		}
	}
}

// TestTimestepsAreAPluginKind: listed like any kind, and a spec naming an unregistered one is
// refused with the key, the registered names and the nearest one.
func TestTimestepsAreAPluginKind(t *testing.T) {
	code, out, _ := runCLI(t, "plugins", "timesteps")
	if code != 0 || !strings.Contains(out, "(chosen by [loss] timesteps)") || !strings.Contains(out, "\n  uniform") ||
		!strings.Contains(out, "\n  importance") {
		t.Errorf("plugins timesteps: exit %d\n%s", code, out)
	}
	spec := filepath.Join(t.TempDir(), "s.toml")
	if err := os.WriteFile(spec, []byte("[loss]\ntimesteps = \"importanse\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCLI(t, "run", "--dry-run", spec)
	for _, want := range []string{"s.toml:2", `[loss] timesteps: unknown timesteps "importanse"`, "importance, uniform", `did you mean "importance"`} {
		if code != 2 || !strings.Contains(errOut, want) {
			t.Errorf("exit %d, stderr lacks %q: %s", code, want, errOut)
		}
	}
}

// TestBenchFormatIsChecked: an unknown --format is a usage error before anything runs.
func TestBenchFormatIsChecked(t *testing.T) {
	code, _, errOut := runCLI(t, "bench", "--db", filepath.Join(t.TempDir(), "b.db"), "--format", "xml")
	if code != 2 || !strings.Contains(errOut, `--format "xml": want table or json`) {
		t.Errorf("exit %d: %s", code, errOut)
	}
}

// TestBenchConfigIsChecked: an unknown --config, the Inception's with others, or the
// Inception's with an unknown --format, is a usage error that names what is valid, before
// anything runs.
func TestBenchConfigIsChecked(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--config", "mnist_unet", "--config", "unet"}, `--config "unet": want one of 2d_mlp, mnist_mlp, mnist_unet, mnist_unet_ddpm, inception`},
		{[]string{"--config", "inception", "--config", "mnist_mlp"}, "--config inception times the Inception's forward pass alone"},
		{[]string{"--config", "inception", "--format", "xml"}, `--format "xml": want table or json`},
	} {
		dbPath := filepath.Join(t.TempDir(), "b.db")
		code, _, errOut := runCLI(t, append([]string{"bench", "--db", dbPath}, c.args...)...)
		if code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d: %s", c.args, code, errOut)
		}
		if _, err := os.Stat(dbPath); err == nil {
			t.Errorf("%v: the database was created", c.args)
		}
	}
}
