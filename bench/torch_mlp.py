#!/usr/bin/env python3
"""Times the reference MNIST MLP DDPM training step (912 -> 256 -> 256 -> 784, SiLU,
eps-prediction MSE, Adam, clipping of the global gradient norm to 1 and an EMA of the weights
with decay 0.999: the runner's defaults, so both sides do the same work) in PyTorch at each
batch size given (default 128 and 512) with 1 and 2
threads, and prints one line per setting: "batch B threads N: S steps/s".
With --device cuda the step runs on the GPU, once per batch size (N is then torch's CPU
thread count, which does not matter there).
Run by `runner bench` when python3 can import torch (Debian's python3-torch)."""
import math
import os
import sys
import time

import torch


def bench(batch, threads, seconds=3.0, device="cpu"):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    if device != "cpu":
        torch.set_default_device(device)  # torch 2.0 and later
    net = torch.nn.Sequential(torch.nn.Linear(912, 256), torch.nn.SiLU(), torch.nn.Linear(256, 256),
                              torch.nn.SiLU(), torch.nn.Linear(256, 784))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    ema = [p.detach().clone() for p in net.parameters()]
    half = 64
    freqs = torch.exp(-math.log(10000) * torch.arange(half) / half)

    def step():
        x0 = torch.rand(batch, 784) * 2 - 1
        t = torch.randint(0, 250, (batch,)).float()
        eps = torch.randn(batch, 784)
        ab = torch.rand(batch, 1)
        xt = ab.sqrt() * x0 + (1 - ab).sqrt() * eps
        emb = torch.cat([torch.cos(t[:, None] * freqs), torch.sin(t[:, None] * freqs)], dim=1)
        loss = ((net(torch.cat([xt, emb], dim=1)) - eps) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            params = [p.detach() for p in net.parameters()]
            torch._foreach_mul_(ema, 0.999)
            torch._foreach_add_(ema, params, alpha=0.001)

    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    for _ in range(10):
        step()
    sync()
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step()
        steps += 1
    sync()
    return steps / (time.perf_counter() - start)


args = sys.argv[1:]
device = "cpu"
if "--device" in args:
    i = args.index("--device")
    device, args = args[i + 1], args[:i] + args[i + 2:]
batches = [int(a) for a in args] or [128, 512]
if device == "cpu":
    # Debian's torch calls whatever BLAS libblas.so.3 resolves to: the reference BLAS is about
    # 7x slower on this step than OpenBLAS (apt-get install libopenblas0).
    print("blas", os.path.realpath("/usr/lib/x86_64-linux-gnu/libblas.so.3"), flush=True)
else:
    print("device", torch.cuda.get_device_name(0), "torch", torch.__version__, flush=True)
for b in batches:
    for n in ((1, 2) if device == "cpu" else (torch.get_num_threads(),)):
        print(f"batch {b} threads {n}: {bench(b, n, device=device):.1f} steps/s", flush=True)
