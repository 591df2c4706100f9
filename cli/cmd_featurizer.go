package cli

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"time"

	urfave "github.com/urfave/cli/v2"

	"github.com/ddpm-runner/ddpm-runner/backend"
	"github.com/ddpm-runner/ddpm-runner/datasets"
	"github.com/ddpm-runner/ddpm-runner/featurizer"
	"github.com/ddpm-runner/ddpm-runner/internal/atomicfile"
)

func featurizerCommand() *urfave.Command {
	return withUsageErrors(&urfave.Command{
		Name:  "featurizer",
		Usage: "train or check the MNIST classifier behind the fid and is metrics",
		Subcommands: []*urfave.Command{
			withUsageErrors(&urfave.Command{
				Name:  "train",
				Usage: "train the classifier (deterministic from --seed) and write its weights and manifest",
				Flags: []urfave.Flag{
					&urfave.Uint64Flag{Name: "seed", Value: 1, Usage: "random seed"},
					&urfave.IntFlag{Name: "epochs", Value: 8, Usage: "passes over the 60,000 training images"},
					&urfave.IntFlag{Name: "batch", Value: 128, Usage: "examples per step"},
					&urfave.Float64Flag{Name: "lr", Value: 1e-3, Usage: "Adam learning rate (the last epoch uses a tenth)"},
					&urfave.StringFlag{Name: "out", Value: "featurizer", Usage: "folder for mnist_mlp.bin and mnist_mlp.json"},
				},
				Action: func(c *urfave.Context) error {
					data, err := datasets.LoadMNIST("", nil, 28)
					if err != nil {
						return err
					}
					b, err := backend.New(backend.Choice{Config: "go"})
					if err != nil {
						return err
					}
					defer b.Finalize()
					trainX, trainY := data.TrainSet()
					start := time.Now()
					ws, bs, err := featurizer.Train(b.GoMLX(), trainX, trainY, featurizer.TrainConfig{
						Seed: c.Uint64("seed"), Epochs: c.Int("epochs"), Batch: c.Int("batch"), LR: c.Float64("lr"), Log: c.App.Writer})
					if err != nil {
						return err
					}
					bin := featurizer.Encode(ws, bs)
					m := featurizer.Manifest{Name: "mnist_mlp", SHA256: featurizer.Hash(bin), Seed: c.Uint64("seed"),
						Epochs: c.Int("epochs"), Widths: featurizer.Widths,
						Command: fmt.Sprintf("runner featurizer train --seed %d --epochs %d --batch %d --lr %g",
							c.Uint64("seed"), c.Int("epochs"), c.Int("batch"), c.Float64("lr"))}
					model, err := featurizer.Decode(bin, m)
					if err != nil {
						return err
					}
					m.TestAccuracy = model.Accuracy(data.HeldOut(10000), data.TestLabels(10000))
					manifest, _ := json.MarshalIndent(m, "", "  ")
					if err := atomicfile.Write(filepath.Join(c.String("out"), "mnist_mlp.bin"), bin, 0o644); err != nil {
						return err
					}
					if err := atomicfile.Write(filepath.Join(c.String("out"), "mnist_mlp.json"), append(manifest, '\n'), 0o644); err != nil {
						return err
					}
					fmt.Fprintf(c.App.Writer, "test accuracy %.4f, sha256 %s, trained in %s\n", m.TestAccuracy, m.SHA256, time.Since(start).Round(time.Second))
					return nil
				},
			}),
			withUsageErrors(&urfave.Command{
				Name:  "check",
				Usage: "verify the shipped classifier's hash and measure its MNIST test accuracy",
				Action: func(c *urfave.Context) error {
					model, err := featurizer.Shipped()
					if err != nil {
						return err
					}
					data, err := datasets.LoadMNIST("", nil, 28)
					if err != nil {
						return err
					}
					acc := model.Accuracy(data.HeldOut(10000), data.TestLabels(10000))
					fmt.Fprintf(c.App.Writer, "%s: sha256 ok, test accuracy %.4f (manifest: %.4f)\n", model.ID(), acc, model.Manifest.TestAccuracy)
					return nil
				},
			}),
		},
	})
}
