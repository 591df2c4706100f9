#!/usr/bin/env python3
"""Times the reference MNIST U-Net DDPM training step in PyTorch: the same network as
networks/unet.go (16 channels, mults [1, 2], 28x28x1: residual blocks with the timestep
embedding, a strided 3x3 convolution down, nearest upsampling and a 3x3 convolution up, skip
concatenations) and the same step as the runner's: q_sample on the linear schedule (T = 250),
MSE on eps, Adam (lr 2e-4), clipping of the global gradient norm to 1 and an EMA of the
weights (decay 0.999).

usage: torch_unet.py [--params N] [--device cuda] [BATCH ...]   (default batch 32)
With --params, the parameter count must equal N (the runner's count of its own U-Net); both
are printed. Prints "batch B threads N: S steps/s" per batch size and thread count (1, 2);
with --device cuda, once per batch size on the GPU (N is torch's CPU thread count).
Run by `runner bench` when python3 can import torch (Debian's python3-torch)."""
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

CHANNELS, MULTS, T, H, W, C = 16, (1, 2), 250, 28, 28, 1


def conv(cin, cout, stride=1):
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1)


class ResBlock(nn.Module):
    """x + conv2(silu(conv1(silu(x)) + dense(silu(temb)))), a 1x1 projection of x when the
    channel count changes (networks/unet.go's resBlock)."""

    def __init__(self, cin, cout, emb):
        super().__init__()
        self.conv1, self.temb, self.conv2 = conv(cin, cout), nn.Linear(emb, cout), conv(cout, cout)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, temb):
        y = self.conv1(F.silu(x)) + self.temb(F.silu(temb))[:, :, None, None]
        y = self.conv2(F.silu(y))
        return (self.skip(x) if self.skip is not None else x) + y


class UNet(nn.Module):
    def __init__(self):
        super().__init__()
        emb = CHANNELS * 4
        self.temb0, self.temb1 = nn.Linear(CHANNELS, emb), nn.Linear(emb, emb)
        self.inc = conv(C, CHANNELS)
        self.down, self.downsample = nn.ModuleList(), nn.ModuleList()
        c, skips = CHANNELS, []
        for l, m in enumerate(MULTS):
            self.down.append(ResBlock(c, CHANNELS * m, emb))
            c = CHANNELS * m
            skips.append(c)
            if l < len(MULTS) - 1:
                self.downsample.append(conv(c, c, stride=2))
        self.mid = ResBlock(c, c, emb)
        self.up, self.upsample = nn.ModuleList(), nn.ModuleList()
        for l in reversed(range(len(MULTS))):
            self.up.append(ResBlock(c + skips[l], CHANNELS * MULTS[l], emb))
            c = CHANNELS * MULTS[l]
            if l > 0:
                self.upsample.append(conv(c, c))
        self.out = conv(c, C)
        half = CHANNELS // 2
        self.register_buffer("freqs", torch.exp(-math.log(10000) * torch.arange(half) / half))

    def forward(self, x, t):
        args = t[:, None].float() * self.freqs[None]
        temb = self.temb1(F.silu(self.temb0(torch.cat([torch.cos(args), torch.sin(args)], 1))))
        h = self.inc(x)
        skips = []
        for l, block in enumerate(self.down):
            h = block(h, temb)
            skips.append(h)
            if l < len(self.downsample):
                h = self.downsample[l](h)
        h = self.mid(h, temb)
        ups = iter(self.upsample)
        for i, l in enumerate(reversed(range(len(MULTS)))):
            h = self.up[i](torch.cat([h, skips[l]], 1), temb)
            if l > 0:
                h = next(ups)(F.interpolate(h, size=skips[l - 1].shape[-2:], mode="nearest"))
        return self.out(F.silu(h))


def bench(batch, threads, seconds=4.0, device="cpu", make=None):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    if device != "cpu":
        torch.set_default_device(device)  # torch 2.0 and later
    net = (make or UNet)()
    net.train()
    ema = [p.detach().clone() for p in net.parameters()]
    opt = torch.optim.Adam(net.parameters(), lr=2e-4)
    betas = torch.linspace(1e-4 * 1000 / T, 0.02 * 1000 / T, T, dtype=torch.float64)
    alpha_bar = torch.cumprod(1 - betas, 0).float()
    x0 = torch.rand(batch, C, H, W) * 2 - 1

    def step():
        t = torch.randint(0, T, (batch,))
        eps = torch.randn(batch, C, H, W)
        ab = alpha_bar[t][:, None, None, None]
        xt = ab.sqrt() * x0 + (1 - ab).sqrt() * eps
        loss = F.mse_loss(net(xt, t), eps)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            params = [p.detach() for p in net.parameters()]
            torch._foreach_mul_(ema, 0.999)
            torch._foreach_add_(ema, params, alpha=0.001)

    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    for _ in range(5):
        step()
    sync()
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step()
        steps += 1
    sync()
    return steps / (time.perf_counter() - start)


def main(make=UNet, name="torch_unet.py"):
    """Reads the command line (see the module's doc), checks the parameter count of the
    network that make builds, and prints the rates."""
    args = sys.argv[1:]
    want, device = None, "cpu"
    if "--params" in args:
        i = args.index("--params")
        want, args = int(args[i + 1]), args[:i] + args[i + 2:]
    if "--device" in args:
        i = args.index("--device")
        device, args = args[i + 1], args[:i] + args[i + 2:]
    have = sum(p.numel() for p in make().parameters())
    print(f"params torch {have} runner {want if want is not None else '?'}", flush=True)
    if want is not None and want != have:
        sys.exit(f"{name}: the replica has {have} parameters, the runner's U-Net {want}: not the same network")
    if device != "cpu":
        print("device", torch.cuda.get_device_name(0), "torch", torch.__version__, flush=True)
    for b in [int(a) for a in args] or [32]:
        for n in ((1, 2) if device == "cpu" else (torch.get_num_threads(),)):
            print(f"batch {b} threads {n}: {bench(b, n, device=device, make=make):.2f} steps/s", flush=True)


if __name__ == "__main__":
    main()
