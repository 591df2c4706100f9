package engine

// BenchConfig is a reference configuration that the benchmarks time: spec tables that,
// added to defaults, give one model and batch size.
type BenchConfig struct {
	Name, Spec string
}

// BenchConfigs are the reference configurations of `runner bench` and of the go test
// benchmarks: the 2-D MLP of swissroll_2d, the MNIST reference MLP ([x (784), embedding
// (128)] = 912 -> 256 -> 256 -> 784, batch 128) and a small MNIST U-Net.
var BenchConfigs = []BenchConfig{
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
}

// BenchConfigNamed returns the named reference configuration's spec tables.
func BenchConfigNamed(name string) string {
	for _, c := range BenchConfigs {
		if c.Name == name {
			return c.Spec
		}
	}
	panic("engine: no bench config " + name)
}
