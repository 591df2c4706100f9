// Package bench holds the reference configurations that `runner bench` and the go test
// benchmarks time, the timing loops they share, and what `runner bench` measures with them
// (RecordConfig, SQLiteWrites, WriteKernels, CompareSteps): the command only reads its flags
// and calls these. The PyTorch replicas that the runner is compared with live beside it
// (torch_mlp.py).
package bench

// Config is a reference configuration that the benchmarks time: spec tables that,
// added to defaults, give one model and batch size.
type Config struct {
	Name, Spec string
}

// Configs are the reference configurations of `runner bench` and of the go test
// benchmarks: the 2-D MLP of swissroll_2d, the MNIST reference MLP ([x (784), embedding
// (128)] = 912 -> 256 -> 256 -> 784, batch 128), a small MNIST U-Net, and the papers' U-Net
// blocks at CPU size (improved-diffusion's layout: two residual blocks a level, GroupNorm of
// 32 groups, scale-shift conditioning, dropout, self-attention at 7x7).
var Configs = []Config{
	{"2d_mlp", `[data]
name = "swissroll"
[schedule]
T = 100
[network]
hidden = [128, 128, 128]
embed = 32
[train]
batch = 256
`},
	{"mnist_mlp", `[data]
name = "mnist"
[schedule]
T = 250
[network]
hidden = [256, 256]
embed = 128
[train]
batch = 128
`},
	{"mnist_unet", `[data]
name = "mnist"
[schedule]
T = 250
[network]
name = "unet"
channels = 16
mults = [1, 2]
[train]
batch = 32
`},
	{"mnist_unet_ddpm", `[data]
name = "mnist"
[schedule]
T = 250
[network]
name = "unet"
channels = 32
mults = [1, 2, 2]
res_blocks = 2
attention = [7]
norm = "group"
groups = 32
scale_shift = true
dropout = 0.1
[train]
batch = 32
`},
}

// Named returns the named reference configuration's spec tables.
func Named(name string) string {
	for _, c := range Configs {
		if c.Name == name {
			return c.Spec
		}
	}
	panic("bench: no config " + name)
}
