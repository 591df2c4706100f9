package inception

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ddpm-runner/ddpm-runner/internal/digest"
	"github.com/ddpm-runner/ddpm-runner/interop/torch"
)

// WeightsEnv is the environment variable that names the weights file when --inception does not.
const WeightsEnv = "DDPM_INCEPTION_WEIGHTS"

// HubCheckpoints is the folder where torch hub (and so pytorch-fid) caches downloaded weights:
// $TORCH_HOME/hub/checkpoints, TORCH_HOME defaulting to $XDG_CACHE_HOME/torch and that to
// ~/.cache/torch, as torch.hub.get_dir computes it.
func HubCheckpoints() string {
	home := os.Getenv("TORCH_HOME")
	if home == "" {
		cache := os.Getenv("XDG_CACHE_HOME")
		if cache == "" {
			if h, err := os.UserHomeDir(); err == nil {
				cache = filepath.Join(h, ".cache")
			} else {
				cache = ".cache"
			}
		}
		home = filepath.Join(cache, "torch")
	}
	return filepath.Join(home, "hub", "checkpoints")
}

// Locate finds the weights file: the given path (the --inception flag) if not empty, else
// $DDPM_INCEPTION_WEIGHTS, else WeightsFile in torch hub's cache, where pytorch-fid leaves it.
// The file is never downloaded: when it is not there the error names the file, what it
// holds and where pytorch-fid publishes it.
func Locate(flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	if env := os.Getenv(WeightsEnv); env != "" {
		return env, nil
	}
	hub := filepath.Join(HubCheckpoints(), WeightsFile)
	if _, err := os.Stat(hub); err == nil {
		return hub, nil
	}
	return "", &WeightsError{Msg: fmt.Sprintf("the FID Inception weights are not on this machine: no --inception FILE, no $%s, "+
		"and no %s in torch hub's cache (%s). The runner never downloads them: get pytorch-fid's %s (the state dict of "+
		"fid_inception_v3, %d float32 values) from %s into that folder, or name the file with --inception or $%s",
		WeightsEnv, WeightsFile, HubCheckpoints(), WeightsFile, ParameterCount(), WeightsURL, WeightsEnv)}
}

// Load reads and checks the weights file at path (torch.save's format, read by
// interop/torch) and computes its sha256. Every failure is a *WeightsError naming the file.
func Load(path string) (*Weights, error) {
	sum, err := digest.File(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, &WeightsError{Msg: fmt.Sprintf("inception weights %s: no such file (pytorch-fid's %s is at %s)", path, WeightsFile, WeightsURL)}
		}
		return nil, &WeightsError{Msg: fmt.Sprintf("inception weights %s: %v", path, err)}
	}
	sd, err := torch.ReadStateDict(path)
	if err != nil {
		return nil, &WeightsError{Msg: fmt.Sprintf("inception weights: %v", err)}
	}
	out := StateDict{Names: sd.Names, Tensors: map[string]Tensor{}}
	for _, name := range sd.Names {
		t := sd.Tensors[name]
		var data []float32
		if t.IsFloat() {
			if data, err = t.Float32(); err != nil {
				return nil, &WeightsError{Msg: fmt.Sprintf("inception weights %s: tensor %s: %v", path, name, err)}
			}
		} else if !isBatchCount(name) {
			return nil, &WeightsError{Msg: fmt.Sprintf("inception weights %s: tensor %s holds %s values, not floating point", path, name, t.DType)}
		}
		out.Tensors[name] = Tensor{Shape: t.Shape, Data: data}
	}
	return FromStateDict(out, sum, path)
}

func isBatchCount(name string) bool {
	const suffix = ".bn.num_batches_tracked"
	return len(name) > len(suffix) && name[len(name)-len(suffix):] == suffix
}
