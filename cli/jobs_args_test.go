package cli

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	urfave "github.com/urfave/cli/v2"

	"github.com/ddpm-runner/ddpm-runner/launch"
)

// runFlagValues parses args as runner run does and returns what each of its flags holds
// (flags set nowhere as "unset"), and for a parent run, the command line ChildArgs gives
// trial 3's child into shard.db.
func runFlagValues(t *testing.T, args []string) (values map[string]string, child []string) {
	t.Helper()
	values = map[string]string{}
	app := newApp()
	for _, cmd := range app.Commands {
		if cmd.Name != "run" {
			continue
		}
		cmd.Action = func(c *urfave.Context) error {
			for _, f := range c.Command.Flags {
				name := f.Names()[0]
				v := "unset"
				if c.IsSet(name) {
					switch f.(type) {
					case *urfave.StringSliceFlag:
						v = strings.Join(c.StringSlice(name), "\x00")
					default:
						v = fmt.Sprint(c.Value(name))
					}
				}
				values[name] = v
			}
			values["args"] = strings.Join(c.Args().Slice(), " ")
			child = jobsOptions(runOptionsFrom(c), c.Args().Slice(), "runner", nil).ChildArgs(2, "shard.db")
			return nil
		}
	}
	if err := app.Run(append([]string{"runner"}, args...)); err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	return values, child
}

// TestChildGetsTheParentsSettings: a --jobs child gets every setting of the parent (flags,
// and flags set through the environment) but those of its own task, so that it checks the
// trial as the parent did. The child's --max-memory was dropped: a child checked the trial
// against the machine's memory, not the limit the parent had accepted.
func TestChildGetsTheParentsSettings(t *testing.T) {
	for _, c := range []struct {
		name string
		env  string // RUNNER_MAX_MEMORY
		args []string
		want []string // in the child's command line
	}{
		{"every flag", "", []string{"run", "--jobs", "2", "--max-memory", "3GiB", "--set", "train.steps=5", "--set", "seeds=[0, 1]",
			"--backend", "go", "--fast-matmul=false", "--db", "main.db", "a.toml", "b.toml"},
			[]string{"--max-memory=3GiB", "--set=seeds=[0, 1]", "--backend=go", "--fast-matmul=false"}},
		{"limit from the environment", "5GiB", []string{"run", "-j", "2", "a.toml"}, []string{"--max-memory=5GiB"}},
		{"defaults", "", []string{"run", "-j", "2", "-q", "a.toml"}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("RUNNER_MAX_MEMORY", c.env)
			parent, child := runFlagValues(t, c.args)
			for _, w := range c.want {
				if !slices.Contains(child, w) {
					t.Errorf("child's command line %q lacks %q", child, w)
				}
			}
			if !slices.Equal(child[:5], []string{"run", "-q", "--trial", "3", "--db"}) || child[5] != "shard.db" {
				t.Errorf("child's command line %q: want run -q --trial 3 --db shard.db first", child)
			}
			t.Setenv("RUNNER_MAX_MEMORY", "") // the child sees the parent's limit on its command line
			got, _ := runFlagValues(t, child)
			for name, v := range parent {
				if launch.ChildOwnFlags[name] || name == "help" {
					continue
				}
				if got[name] != v {
					t.Errorf("--%s: the child has %q, the parent %q (child's command line %q)", name, got[name], v, child)
				}
			}
		})
	}
}
