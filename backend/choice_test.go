package backend

import (
	"strings"
	"testing"

	"github.com/ddpm-runner/ddpm-runner/internal/gokernels"
)

func TestParseSplitsTheKernelOffTheConfiguration(t *testing.T) {
	cases := []struct {
		name   string
		want   Choice
		output string // Name() of the choice
		err    string
	}{
		{"go", Choice{Config: "go"}, "go", ""},
		{"go:stock", Choice{Config: "go", Kernel: StockKernel}, "go:stock", ""},
		{"go:fast", Choice{Config: "go", Kernel: FastKernel}, "go", ""},
		{"go:stock,ops_sequential", Choice{Config: "go:ops_sequential", Kernel: StockKernel}, "go:stock,ops_sequential", ""},
		{"go:parallelism=4,stock", Choice{Config: "go:parallelism=4", Kernel: StockKernel}, "go:stock,parallelism=4", ""},
		// Without a kernel the configuration stays exactly as given: it is what a trial hashes.
		{"go:threads=1", Choice{Config: "go:threads=1"}, "go:threads=1", ""},
		{"go:", Choice{Config: "go:"}, "go:", ""},
		{"xla:cuda", Choice{Config: "xla:cuda"}, "xla:cuda", ""},
		{"xla:cpu,stock", Choice{Config: "xla:cpu,stock"}, "xla:cpu,stock", ""},
		{"go:stock,fast", Choice{}, "", "names two kernels"},
	}
	t.Setenv(gokernels.EnvVar, "1")
	for _, c := range cases {
		got, err := Parse(c.name)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("Parse(%q) error %v, want it to say %q", c.name, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", c.name, got, err, c.want)
			continue
		}
		if n := got.Name(); n != c.output {
			t.Errorf("Parse(%q).Name() = %q, want %q", c.name, n, c.output)
		}
	}
}

func TestResolvePrecedenceAndTheEnvironmentsKernel(t *testing.T) {
	t.Setenv("GOMLX_BACKEND", "")
	t.Setenv(gokernels.EnvVar, "")
	cases := []struct {
		flag, env, spec string
		want            Choice
	}{
		{"", "", "", Choice{Config: "go"}},
		{"", "", "xla:cpu", Choice{Config: "xla:cpu"}},
		{"", "xla:cuda", "xla:cpu", Choice{Config: "xla:cuda"}},
		{"go:stock", "xla:cuda", "xla:cpu", Choice{Config: "go", Kernel: StockKernel}},
		{"", "go:stock", "xla", Choice{Config: "go", Kernel: StockKernel}},
	}
	for _, c := range cases {
		t.Setenv("GOMLX_BACKEND", c.env)
		got, err := Resolve(c.flag, c.spec)
		if err != nil || got != c.want {
			t.Errorf("Resolve(%q, %q) with $GOMLX_BACKEND=%q = %+v, %v; want %+v", c.flag, c.spec, c.env, got, err, c.want)
		}
	}
	for env, want := range map[string]Kernel{"": FastKernel, "1": FastKernel, "0": StockKernel, "off": StockKernel} {
		t.Setenv(gokernels.EnvVar, env)
		if got := DefaultKernel.Resolved(); got != want {
			t.Errorf("$%s=%q: the default kernel is %q, want %q", gokernels.EnvVar, env, got, want)
		}
		if got := StockKernel.Resolved(); got != StockKernel {
			t.Errorf("$%s=%q: a named stock kernel resolves to %q", gokernels.EnvVar, env, got)
		}
	}
	t.Setenv(gokernels.EnvVar, "0")
	if n := (Choice{Config: "go"}).Name(); n != "go:stock" {
		t.Errorf("with $%s=0 the go backend is named %q, want go:stock", gokernels.EnvVar, n)
	}
}

// TestRecordedKernel reads the strings runs have recorded under "matmul", old and new.
func TestRecordedKernel(t *testing.T) {
	cases := []struct {
		env  map[string]string
		want Kernel
		ok   bool
	}{
		{map[string]string{"matmul": "fastdot avx2-fma 6x16"}, FastKernel, true},
		{map[string]string{"matmul": "fastdot avx512 8x16"}, FastKernel, true},
		{map[string]string{"matmul": "gomlx-stock (fast matmul turned off)"}, StockKernel, true},
		{map[string]string{"matmul": "gomlx-stock (this CPU has no AVX2/FMA)"}, StockKernel, true},
		{map[string]string{"matmul": "gomlx-stock (self-check failed: ...)"}, StockKernel, true},
		{map[string]string{"backend.description": "xla"}, DefaultKernel, false},
		{nil, DefaultKernel, false},
	}
	for _, c := range cases {
		if got, ok := RecordedKernel(c.env); got != c.want || ok != c.ok {
			t.Errorf("RecordedKernel(%v) = %q, %v; want %q, %v", c.env, got, ok, c.want, c.ok)
		}
	}
}

// TestNewRunsTheChoicesKernel creates go backends of each kernel and checks what each says
// ran, the convolution it asks for and the env it records, whatever the previous backend's
// kernel was and whatever the environment's default.
func TestNewRunsTheChoicesKernel(t *testing.T) {
	t.Setenv(gokernels.EnvVar, "0")
	for _, k := range []Kernel{FastKernel, StockKernel, FastKernel, DefaultKernel} {
		b, err := New(Choice{Config: "go", Kernel: k})
		if err != nil {
			t.Fatal(err)
		}
		fast := strings.HasPrefix(b.Kernel(), "fastdot ")
		if k == FastKernel && !fast {
			b.Finalize()
			t.Skipf("the fast kernel does not run here: %s", b.Kernel())
		}
		if k != FastKernel && (fast || !strings.HasPrefix(b.Kernel(), "gomlx-stock")) {
			t.Errorf("kernel %q: the backend runs %q", k, b.Kernel())
		}
		if b.Im2colConv() == fast {
			t.Errorf("kernel %q (%s): Im2colConv() = %v", k, b.Kernel(), b.Im2colConv())
		}
		if env := b.Env(); env[MatmulEnvKey] != b.Kernel() || len(env) != 1 {
			t.Errorf("kernel %q: env %v, want only %s = %q", k, env, MatmulEnvKey, b.Kernel())
		}
		if got, _ := RecordedKernel(b.Env()); got != b.Choice().Kernel {
			t.Errorf("kernel %q: its env reads back as %q", b.Choice().Kernel, got)
		}
		if gokernels.Active() != fast {
			t.Errorf("kernel %q: the process switch is %v", k, gokernels.Active())
		}
		b.Finalize()
	}
}
