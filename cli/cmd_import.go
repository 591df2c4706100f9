package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
	gctx "github.com/gomlx/gomlx/pkg/ml/context"
	urfave "github.com/urfave/cli/v2"

	"github.com/ddpm-runner/ddpm-runner/backend"
	"github.com/ddpm-runner/ddpm-runner/engine"
	"github.com/ddpm-runner/ddpm-runner/internal/digest"
	"github.com/ddpm-runner/ddpm-runner/interop/improveddiffusion"
	"github.com/ddpm-runner/ddpm-runner/interop/torch"
	"github.com/ddpm-runner/ddpm-runner/results"
	"github.com/ddpm-runner/ddpm-runner/spec"
)

// importFormats are the checkpoint formats runner import reads.
var importFormats = []string{"improved-diffusion"}

// Env keys of an imported run: what was imported.
const (
	importFileEnv      = "import.file"
	importSHA256Env    = "import.sha256"
	importFormatEnv    = "import.format"
	importModelEnv     = "import.model_flags"
	importDiffusionEnv = "import.diffusion_flags"
)

// maxImportSpec is the most bytes of an import --spec file read.
const maxImportSpec = 1 << 20

func importCommand() *urfave.Command {
	return withUsageErrors(&urfave.Command{
		Name:      "import",
		Usage:     "record a model trained elsewhere as a finished run that runner sample and the metrics use",
		ArgsUsage: "improved-diffusion MODEL.pt",
		Description: "Reads an openai/improved-diffusion checkpoint (torch.save of the U-Net's state_dict) with the flags that\n" +
			"trained it (--model-flags and --diffusion-flags exactly as its README gives them, its defaults for the rest),\n" +
			"puts every tensor into the runner's unet by name and shape, and records a finished run of kind imported\n" +
			"(env: the file, its sha256, the flags) whose checkpoint holds the weights; `runner sample ID` draws from it.\n" +
			"A checkpoint that does not match the flags is refused (exit 2) naming the first tensor that differs, and\n" +
			"nothing is written. The data it is evaluated on: --set data.name=... or a --spec holding [data], [eval],\n" +
			"[sample], seeds and backend; without data, sampling works and the metrics are refused.",
		Flags: []urfave.Flag{
			dbFlag(), setFlag(),
			&urfave.StringFlag{Name: "model-flags", Usage: "improved-diffusion's MODEL_FLAGS, e.g. \"--image_size 32 --num_channels 128 --num_res_blocks 3 --learn_sigma True --dropout 0.3\""},
			&urfave.StringFlag{Name: "diffusion-flags", Usage: "improved-diffusion's DIFFUSION_FLAGS, e.g. \"--diffusion_steps 4000 --noise_schedule cosine\""},
			&urfave.StringFlag{Name: "spec", Usage: "a spec with the imported run's [data], [eval], [sample], seeds and backend"},
		},
		Action: func(c *urfave.Context) error {
			return runImport(c.Context, importOptionsFrom(c), globalOptionsFrom(c), c.Args().Slice())
		},
	})
}

// importOptions are runner import's flags.
type importOptions struct {
	db             string
	sets           []string
	spec           string
	modelFlags     string
	diffusionFlags string
}

func importOptionsFrom(c *urfave.Context) importOptions {
	return importOptions{db: c.String("db"), sets: c.StringSlice("set"), spec: c.String("spec"),
		modelFlags: c.String("model-flags"), diffusionFlags: c.String("diffusion-flags")}
}

// runImport imports the checkpoint that args name and records it as a run.
func runImport(_ context.Context, opts importOptions, gopts globalOptions, args []string) error {
	if len(args) != 2 {
		return usagef("import: want FORMAT MODEL.pt (formats: %s), got %d arguments", strings.Join(importFormats, ", "), len(args))
	}
	if !slices.Contains(importFormats, args[0]) {
		return usagef("import: unknown format %q (valid: %s)", args[0], strings.Join(importFormats, ", "))
	}
	file := args[1]
	flags, err := improveddiffusion.Parse(improveddiffusion.Source{Option: "--model-flags", Text: opts.modelFlags},
		improveddiffusion.Source{Option: "--diffusion-flags", Text: opts.diffusionFlags})
	if err != nil {
		return usagef("import: %v", err)
	}
	trial, err := importTrial(flags, file, opts)
	if err != nil {
		return err
	}
	if err := backend.Check(trial.Backend); err != nil {
		return usagef("import: %v", err)
	}
	job, err := engine.Prepare(trial)
	if err != nil {
		return usagef("import: %v", err)
	}
	sd, err := torch.ReadStateDict(file)
	if err != nil {
		return usagef("import: %v", err)
	}
	sum, err := digest.File(file)
	if err != nil {
		return usagef("import: %v", err)
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		return usagef("import: %v", err)
	}
	fill := func(ctx *gctx.Context, scope string) error { return improveddiffusion.LoadInto(ctx, scope, sd, file) }
	imported, err := engine.PrepareImport(job, fill, engine.Options{})
	if err != nil {
		var refused *engine.RefusedError
		if errors.As(err, &refused) {
			return usagef("import: %v", refused)
		}
		return urfave.Exit(fmt.Sprintf("import: %v", err), exitRunFail)
	}
	// The database is opened only now: a checkpoint refused above leaves it as it was.
	store, err := openForRuns(opts.db, gopts.stderr, false)
	if err != nil {
		return err
	}
	defer store.Close()
	env := map[string]string{importFormatEnv: args[0], importFileEnv: abs, importSHA256Env: sum,
		importModelEnv: opts.modelFlags, importDiffusionEnv: opts.diffusionFlags}
	out := imported.Record(env, engine.Options{Store: store, Phase: tracePhases(gopts.stderr)})
	if out.RunID == 0 {
		return urfave.Exit(fmt.Sprintf("import: could not record the run: %v", out.Err), exitRunFail)
	}
	if out.Status != results.StatusFinished {
		return urfave.Exit(fmt.Sprintf("import: run %d %s%s", out.RunID, out.Status, errSuffix(out.Err)), exitRunFail)
	}
	fmt.Fprintf(gopts.stderr, "run %d: imported %s (sha256 %s); sample it with `runner sample %d`\n", out.RunID, abs, sum, out.RunID)
	fmt.Fprintln(gopts.stdout, out.RunID)
	return nil
}

// importTables are the spec tables and keys an import's --spec and --set may give: the
// model's own tables come from its flags.
var importTables = []string{"name", "description", "seeds", "backend", "data", "eval", "sample"}

// importTrial resolves the imported run's trial: the tables the flags mean, no training of
// its own (train.ema 0: the weights are sampled as they are), the data (a layout only
// unless --spec or --set names some) and the user's [eval], [sample], seeds and backend.
func importTrial(flags improveddiffusion.Flags, file string, opts importOptions) (*spec.Trial, error) {
	doc := map[string]any{
		"name":        "import:" + filepath.Base(file),
		"description": "improved-diffusion checkpoint " + filepath.Base(file),
		"train":       map[string]any{"ema": 0.0, "steps": int64(1)},
	}
	for table, values := range flags.Tables() {
		doc[table] = values
	}
	user := map[string]any{}
	specFile := "runner import"
	if opts.spec != "" {
		specFile = opts.spec
		b, err := readSmall(opts.spec, maxImportSpec)
		if err != nil {
			return nil, usagef("import: --spec %s: %v", opts.spec, err)
		}
		if _, err := toml.Decode(string(b), &user); err != nil {
			return nil, usagef("import: --spec %s: %v", opts.spec, err)
		}
	}
	var keys []string
	for k := range user {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !slices.Contains(importTables, k) {
			return nil, usagef("import: --spec %s: %q cannot be set: the model's tables come from --model-flags and --diffusion-flags (valid: %s)",
				opts.spec, k, strings.Join(importTables, ", "))
		}
		doc[k] = user[k]
	}
	dataNamed := user["data"] != nil
	for _, s := range opts.sets {
		key, _, _ := strings.Cut(s, "=")
		top, _, _ := strings.Cut(strings.TrimSpace(key), ".")
		if !slices.Contains(importTables, top) {
			return nil, usagef("import: --set %s: the model's tables come from --model-flags and --diffusion-flags (valid: %s)",
				s, strings.Join(importTables[2:], ", "))
		}
		if top == "data" {
			dataNamed = true
		}
	}
	if !dataNamed {
		doc["data"] = map[string]any{"name": "none", "size": int64(flags.ImageSize), "channels": int64(3)}
		if _, ok := doc["eval"]; !ok {
			doc["eval"] = map[string]any{"metrics": []any{}}
		}
	} else if _, ok := doc["data"]; !ok {
		doc["data"] = map[string]any{}
	}
	trials, err := spec.Resolve(specFile, doc, opts.sets)
	if err != nil {
		return nil, usagef("import: %v", err)
	}
	if len(trials) != 1 {
		return nil, usagef("import: the settings give %d trials (seeds or a sweep); an import records one run", len(trials))
	}
	t := trials[0]
	t.Kind = spec.KindImported
	t.File = opts.spec
	return t, nil
}

// readSmall reads a regular file of at most limit bytes.
func readSmall(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return b, nil
}
