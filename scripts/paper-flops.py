#!/usr/bin/env python3
"""Counts the parameters and the multiply-adds of one forward pass of the papers' CIFAR-10
U-Nets, built by openai/improved-diffusion's own code, for the headers of
experiments/ddpm_cifar10.toml and experiments/iddpm_cifar10.toml.

Run: PYTHONPATH=/path/to/improved-diffusion /usr/bin/python3 scripts/paper-flops.py

Convolutions, linear layers and the two attention products are counted (as thop counts
them, with improved-diffusion's QKVAttention.count_flops); normalisations and activations
are left out. A training step costs about three forward passes (forward, and backward
through activations and weights), so FLOPs per step = 3 x 2 x MACs x batch.
"""
import torch as th
from improved_diffusion.script_util import create_model
from improved_diffusion.unet import QKVAttention

CONFIGS = {
    "ddpm_cifar10": dict(num_res_blocks=2, attention_resolutions="16", num_heads=1,
                         use_scale_shift_norm=False, dropout=0.1, learn_sigma=False),
    "iddpm_cifar10": dict(num_res_blocks=3, attention_resolutions="16,8", num_heads=4,
                          use_scale_shift_norm=True, dropout=0.3, learn_sigma=True),
}


def macs(model, size):
    total = [0]

    def conv(m, inp, out):
        k = 1
        for s in m.kernel_size:
            k *= s
        total[0] += out.numel() * k * m.in_channels // m.groups

    def linear(m, inp, out):
        total[0] += out.numel() * m.in_features

    def attention(m, inp, out):
        b, c, t = out.shape
        total[0] += 2 * b * c * t * t

    for mod in model.modules():
        if isinstance(mod, (th.nn.Conv1d, th.nn.Conv2d)):
            mod.register_forward_hook(conv)
        elif isinstance(mod, th.nn.Linear):
            mod.register_forward_hook(linear)
        elif isinstance(mod, QKVAttention):
            mod.register_forward_hook(attention)
    model.eval()
    with th.no_grad():
        model(th.zeros(1, 3, size, size), th.zeros(1))
    return total[0]


for name, flags in CONFIGS.items():
    m = create_model(32, 128, class_cond=False, use_checkpoint=False, num_heads_upsample=-1, **flags)
    params = sum(p.numel() for p in m.parameters())
    mac = macs(m, 32)
    step = 3 * 2 * mac * 128
    print(f"{name}: params {params:,}  forward MACs/image {mac/1e9:.3f} G  "
          f"training FLOPs/step at batch 128 {step/1e12:.2f} T")
