#!/usr/bin/env python3
"""Times the reference MNIST MLP DDPM training step (912 -> 256 -> 256 -> 784, SiLU, Adam,
batch 128, eps-prediction MSE) in PyTorch, at 1 and 2 threads; prints steps/s of each.
Run by `runner bench` when python3 can import torch (Debian's python3-torch)."""
import math
import time

import torch

def bench(threads, steps=100):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(912, 256), torch.nn.SiLU(), torch.nn.Linear(256, 256),
                              torch.nn.SiLU(), torch.nn.Linear(256, 784))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    half = 64
    freqs = torch.exp(-math.log(10000) * torch.arange(half) / half)
    def step():
        x0 = torch.rand(128, 784) * 2 - 1
        t = torch.randint(0, 250, (128,)).float()
        eps = torch.randn(128, 784)
        ab = torch.rand(128, 1)
        xt = ab.sqrt() * x0 + (1 - ab).sqrt() * eps
        emb = torch.cat([torch.cos(t[:, None] * freqs), torch.sin(t[:, None] * freqs)], dim=1)
        loss = ((net(torch.cat([xt, emb], dim=1)) - eps) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    for _ in range(10):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps / (time.perf_counter() - start)

print(" ".join(f"{n} thread(s): {bench(n):.1f} steps/s" for n in (1, 2)))
