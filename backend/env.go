package backend

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"time"
)

// Env describes the backend for a run's env record, as part of what it takes to reproduce
// the run's numbers: on the go backend its kernel (MatmulEnvKey); on the XLA backend the
// plugin's path, PJRT C API version and wheel, the device and, on CUDA, the GPU's name and
// memory, and the environment variables that change XLA's arithmetic.
func (b *Backend) Env() map[string]string {
	if b.gomlx.String() == "go" {
		return map[string]string{MatmulEnvKey: b.kernel}
	}
	env := map[string]string{"backend.description": b.gomlx.Description()}
	if b.gomlx.NumDevices() > 0 {
		env["backend.device"] = b.gomlx.DeviceDescription(0)
	}
	p := b.plugin
	if p == nil {
		return env
	}
	env["backend.plugin"] = p.Path
	env["backend.pjrt_api"] = p.Version.String()
	if p.Package != "" {
		env["backend.plugin_package"] = p.Package
	}
	if strings.Contains(p.Platform, "cuda") || strings.Contains(p.Path, "cuda") {
		if name, mem, ok := nvidiaGPU(); ok {
			env["gpu.name"], env["gpu.memory"] = name, mem
		}
	}
	for _, k := range []string{"XLA_FLAGS", "NVIDIA_TF32_OVERRIDE", "CUDA_VISIBLE_DEVICES"} {
		if v, ok := os.LookupEnv(k); ok {
			env["env."+k] = v
		}
	}
	return env
}

// nvidiaGPU asks nvidia-smi for the first GPU's name and total memory.
func nvidiaGPU() (name, memory string, ok bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader").Output()
	if err != nil {
		return "", "", false
	}
	first, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	name, memory, found := strings.Cut(first, ",")
	return strings.TrimSpace(name), strings.TrimSpace(memory), found
}
