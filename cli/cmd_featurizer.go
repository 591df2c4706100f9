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
		Usage: "train or check the classifiers behind the fid, is and kid metrics (MNIST's and Fashion-MNIST's)",
		Subcommands: []*urfave.Command{
			withUsageErrors(&urfave.Command{
				Name:  "train",
				Usage: "train the classifier (deterministic from --seed) and write its weights and manifest",
				Flags: []urfave.Flag{
					&urfave.Uint64Flag{Name: "seed", Value: 1, Usage: "random seed"},
					&urfave.IntFlag{Name: "epochs", Value: 8, Usage: "passes over the 60,000 training images"},
					&urfave.IntFlag{Name: "batch", Value: 128, Usage: "examples per step"},
					&urfave.Float64Flag{Name: "lr", Value: 1e-3, Usage: "Adam learning rate (the last epoch uses a tenth)"},
					&urfave.StringFlag{Name: "out", Value: "featurizer", Usage: "folder for NAME.bin and NAME.json (mnist_mlp or fashion_mnist_mlp)"},
					featurizerDataFlag(),
				},
				Action: func(c *urfave.Context) error {
					data, err := featurizerData(c.String("data"))
					if err != nil {
						return err
					}
					name := data.Featurizer()
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
					// The command is recorded as given; MNIST's leaves --data out, as it was first written.
					dataFlag := ""
					if c.String("data") != "mnist" {
						dataFlag = " --data " + c.String("data")
					}
					m := featurizer.Manifest{Name: name, SHA256: featurizer.Hash(bin), Seed: c.Uint64("seed"),
						Epochs: c.Int("epochs"), Widths: featurizer.Widths,
						Command: fmt.Sprintf("runner featurizer train%s --seed %d --epochs %d --batch %d --lr %g",
							dataFlag, c.Uint64("seed"), c.Int("epochs"), c.Int("batch"), c.Float64("lr"))}
					model, err := featurizer.Decode(bin, m)
					if err != nil {
						return err
					}
					m.TestAccuracy = model.Accuracy(data.HeldOut(10000), data.TestLabels(10000))
					manifest, _ := json.MarshalIndent(m, "", "  ")
					if err := atomicfile.Write(filepath.Join(c.String("out"), name+".bin"), bin, 0o644); err != nil {
						return err
					}
					if err := atomicfile.Write(filepath.Join(c.String("out"), name+".json"), append(manifest, '\n'), 0o644); err != nil {
						return err
					}
					fmt.Fprintf(c.App.Writer, "test accuracy %.4f, sha256 %s, trained in %s\n", m.TestAccuracy, m.SHA256, time.Since(start).Round(time.Second))
					return nil
				},
			}),
			withUsageErrors(&urfave.Command{
				Name:  "check",
				Usage: "verify a shipped classifier's hash and measure its test accuracy on its data",
				Flags: []urfave.Flag{featurizerDataFlag()},
				Action: func(c *urfave.Context) error {
					data, err := featurizerData(c.String("data"))
					if err != nil {
						return err
					}
					model, err := featurizer.ShippedNamed(data.Featurizer())
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

// featurizerDataFlag is --data of runner featurizer: which data set's classifier.
func featurizerDataFlag() urfave.Flag {
	return &urfave.StringFlag{Name: "data", Value: "mnist", Usage: "the classifier's data set: mnist or fashion-mnist"}
}

// featurizerData loads the 28x28 data set a classifier is trained and checked on.
func featurizerData(name string) (*datasets.MNIST, error) {
	switch name {
	case "mnist":
		return datasets.LoadMNIST("", nil, 28)
	case "fashion-mnist":
		return datasets.LoadFashionMNIST("", nil, 28)
	}
	return nil, usagef("--data %q: want mnist or fashion-mnist", name)
}
