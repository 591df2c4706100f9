package engine

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/gomlx/gomlx/backends"
)

// backendEnv describes the backend a run executes on, for its env record: for the XLA
// backend the plugin's path, PJRT C API version and wheel, the device and, on CUDA, the GPU's
// name and memory; and the environment variables that change XLA's arithmetic.
func backendEnv(config string, b backends.Backend) map[string]string {
	env := map[string]string{"backend.description": b.Description()}
	if b.NumDevices() > 0 {
		env["backend.device"] = b.DeviceDescription(0)
	}
	_, p, err := resolveXLA(config)
	if err != nil || p == nil {
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
