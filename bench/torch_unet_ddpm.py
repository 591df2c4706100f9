#!/usr/bin/env python3
"""Times the papers' U-Net blocks at CPU size in PyTorch: bench/configs.go's mnist_unet_ddpm,
the runner's U-Net in improved-diffusion's layout (networks/unet_layout.go) with 32 channels,
mults [1, 2, 2], two residual blocks a level, GroupNorm of 32 groups, scale-shift
conditioning, dropout 0.1 and self-attention (one head) at 7x7, on 28x28x1 MNIST. The layers
are those of openai/improved-diffusion's UNetModel, written out here: the time embedding
(sinusoid, Linear, SiLU, Linear); the input convolution; per level two ResBlocks (GroupNorm,
SiLU, conv3x3; SiLU, Linear to 2*out; GroupNorm, (1 + scale), + shift, SiLU, dropout,
conv3x3; a 1x1 convolution of the input where the channels change), each followed by
attention at 7x7, and a strided 3x3 convolution down between levels; the middle ResBlock,
attention, ResBlock; per level up three ResBlocks on [h, skip], with attention at 7x7 and
nearest upsampling and a 3x3 convolution between levels; GroupNorm, SiLU, conv3x3. The step
is bench/torch_unet.py's (the runner's): q_sample on the linear schedule (T = 250), MSE on
eps, Adam (lr 2e-4), clipping of the global gradient norm to 1, an EMA of the weights.

usage: torch_unet_ddpm.py [--params N] [--device cuda] [BATCH ...]   (default batch 32)
As bench/torch_unet.py: with --params the parameter count must equal N (the runner's count
of its own network); prints "batch B threads N: S steps/s" per batch size and thread count.
Run by `runner bench` when python3 can import torch."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

import torch_unet

CHANNELS, MULTS, RES_BLOCKS, ATTENTION, GROUPS, DROPOUT = 32, (1, 2, 2), 2, (7,), 32, 0.1
C, H = torch_unet.C, torch_unet.H


def conv(cin, cout, stride=1):
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1)


class ResBlock(nn.Module):
    """improved-diffusion's ResBlock with use_scale_shift_norm."""

    def __init__(self, cin, cout, emb):
        super().__init__()
        self.in_norm, self.in_conv = nn.GroupNorm(GROUPS, cin), conv(cin, cout)
        self.emb = nn.Linear(emb, 2 * cout)
        self.out_norm, self.drop, self.out_conv = nn.GroupNorm(GROUPS, cout), nn.Dropout(DROPOUT), conv(cout, cout)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, temb):
        h = self.in_conv(F.silu(self.in_norm(x)))
        scale, shift = self.emb(F.silu(temb))[:, :, None, None].chunk(2, dim=1)
        h = self.out_norm(h) * (1 + scale) + shift
        h = self.out_conv(self.drop(F.silu(h)))
        return (self.skip(x) if self.skip is not None else x) + h


class Attention(nn.Module):
    """improved-diffusion's AttentionBlock with one head: x + proj_out(softmax(q k^T) v),
    q and k each scaled by 1/sqrt(sqrt(C))."""

    def __init__(self, ch):
        super().__init__()
        self.norm, self.qkv, self.proj = nn.GroupNorm(GROUPS, ch), nn.Conv1d(ch, 3 * ch, 1), nn.Conv1d(ch, ch, 1)

    def forward(self, x):
        b, ch, h, w = x.shape
        qkv = self.qkv(self.norm(x).reshape(b, ch, h * w))
        q, k, v = qkv.chunk(3, dim=1)
        scale = 1 / math.sqrt(math.sqrt(ch))
        weights = torch.softmax(torch.einsum("bct,bcs->bts", q * scale, k * scale), dim=-1)
        a = torch.einsum("bts,bcs->bct", weights, v)
        return x + self.proj(a).reshape(b, ch, h, w)


class UNetDDPM(nn.Module):
    def __init__(self):
        super().__init__()
        emb = CHANNELS * 4
        self.temb0, self.temb1 = nn.Linear(CHANNELS, emb), nn.Linear(emb, emb)
        self.inc = conv(C, CHANNELS)
        self.down = nn.ModuleList()
        c, height, skips = CHANNELS, H, [CHANNELS]
        for l, m in enumerate(MULTS):
            for _ in range(RES_BLOCKS):
                layers = [ResBlock(c, CHANNELS * m, emb)]
                c = CHANNELS * m
                if height in ATTENTION:
                    layers.append(Attention(c))
                self.down.append(nn.ModuleList(layers))
                skips.append(c)
            if l < len(MULTS) - 1:
                self.down.append(nn.ModuleList([conv(c, c, stride=2)]))
                height //= 2
                skips.append(c)
        self.mid = nn.ModuleList([ResBlock(c, c, emb), Attention(c), ResBlock(c, c, emb)])
        self.up = nn.ModuleList()
        for l in reversed(range(len(MULTS))):
            for i in range(RES_BLOCKS + 1):
                layers = [ResBlock(c + skips.pop(), CHANNELS * MULTS[l], emb)]
                c = CHANNELS * MULTS[l]
                if height in ATTENTION:
                    layers.append(Attention(c))
                if l > 0 and i == RES_BLOCKS:
                    layers.append(conv(c, c))  # after nearest upsampling
                self.up.append(nn.ModuleList(layers))
            if l > 0:
                height *= 2
        self.out_norm, self.out = nn.GroupNorm(GROUPS, c), conv(c, C)
        half = CHANNELS // 2
        self.register_buffer("freqs", torch.exp(-math.log(10000) * torch.arange(half) / half))

    @staticmethod
    def layer(m, h, temb):
        if isinstance(m, ResBlock):
            return m(h, temb)
        if isinstance(m, Attention):
            return m(h)
        if m.stride == (2, 2):
            return m(h)
        return m(F.interpolate(h, scale_factor=2, mode="nearest"))

    def forward(self, x, t):
        args = t[:, None].float() * self.freqs[None]
        temb = self.temb1(F.silu(self.temb0(torch.cat([torch.cos(args), torch.sin(args)], 1))))
        h = self.inc(x)
        skips = [h]
        for layers in self.down:
            for m in layers:
                h = self.layer(m, h, temb)
            skips.append(h)
        for m in self.mid:
            h = self.layer(m, h, temb)
        for layers in self.up:
            h = torch.cat([h, skips.pop()], 1)
            for m in layers:
                h = self.layer(m, h, temb)
        return self.out(F.silu(self.out_norm(h)))


if __name__ == "__main__":
    torch_unet.main(UNetDDPM, "torch_unet_ddpm.py")
