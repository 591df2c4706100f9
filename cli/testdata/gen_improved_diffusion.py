# Generates the acceptance fixture of `runner import improved-diffusion`: a checkpoint of
# improved-diffusion's own U-Net at a tiny configuration with every parameter set to seeded
# random values (the zero-initialised output layers included), a noise file, and the samples
# improved-diffusion's own DDIM sampler draws from that noise with those weights.
#
# Run from the repository root with Debian's Python (torch 1.13) and the reference code:
#
#     PYTHONPATH=/work/ref/improved-diffusion /usr/bin/python3 cli/testdata/gen_improved_diffusion.py
#
# The flags (the Go test passes the same ones to runner import):
#   MODEL_FLAGS="--image_size 32 --num_channels 32 --num_res_blocks 1 --attention_resolutions 16
#                --num_heads 2 --learn_sigma True"
#   DIFFUSION_FLAGS="--diffusion_steps 100 --noise_schedule cosine --timestep_respacing ddim10"
# (use_scale_shift_norm and rescale_timesteps keep their default True.)
#
# Files:
#   improved_diffusion_tiny.pt.gz  torch.save(model.state_dict()), gzipped (each weight is a
#                                  multiple of 1/4 of its layer's 1/sqrt(fan_in), so the file
#                                  compresses; the Go test gunzips it)
#   improved_diffusion_noise.npy   x_T, float32 [4, 3, 32, 32] (PyTorch's NCHW)
#   improved_diffusion_samples.npz arr_0: uint8 [4, 32, 32, 3], as image_sample.py writes it:
#                                  ddim_sample_loop (eta 0, clip_denoised True) from x_T, then
#                                  ((x + 1) * 127.5).clamp(0, 255) to uint8, NHWC
import gzip
import io
import math
import os

import numpy as np
import torch as th

from improved_diffusion.script_util import create_model_and_diffusion, model_and_diffusion_defaults

here = os.path.dirname(os.path.abspath(__file__))
args = model_and_diffusion_defaults()
args.update(
    image_size=32,
    num_channels=32,
    num_res_blocks=1,
    attention_resolutions="16",
    num_heads=2,
    learn_sigma=True,
    diffusion_steps=100,
    noise_schedule="cosine",
    timestep_respacing="ddim10",
)
model, diffusion = create_model_and_diffusion(**args)
model.eval()

g = th.Generator().manual_seed(28)
with th.no_grad():
    for name, p in model.named_parameters():
        if p.dim() > 1:
            fan_in = p[0].numel()
            scale = 1 / math.sqrt(fan_in)
            q = th.randint(-3, 4, p.shape, generator=g).float() / 4
            if name.startswith("out."):
                q = q / 4  # a small output keeps x_0-hat mostly inside [-1, 1], so clipping hides little
            p.copy_(q * scale)
        elif name.endswith("weight") and "in_layers.0" in name or "out_layers.0" in name or name.startswith("out.0") or ".norm." in name:
            # GroupNorm scales: around 1
            p.copy_(1 + th.randint(-4, 5, p.shape, generator=g).float() / 16)
        else:
            p.copy_(th.randint(-4, 5, p.shape, generator=g).float() / 32)

buf = io.BytesIO()
th.save(model.state_dict(), buf)
with gzip.GzipFile(os.path.join(here, "improved_diffusion_tiny.pt.gz"), "wb", mtime=0) as f:
    f.write(buf.getvalue())

noise = th.randn(4, 3, 32, 32, generator=g)
np.save(os.path.join(here, "improved_diffusion_noise.npy"), noise.numpy().astype(np.float32))

with th.no_grad():
    sample = diffusion.ddim_sample_loop(model, (4, 3, 32, 32), noise=noise, clip_denoised=True, eta=0.0)
sample = ((sample + 1) * 127.5).clamp(0, 255).to(th.uint8)
sample = sample.permute(0, 2, 3, 1).contiguous().numpy()
np.savez(os.path.join(here, "improved_diffusion_samples.npz"), sample)
print("samples: mean %.2f, std %.2f, %d distinct values" % (sample.mean(), sample.std(), len(np.unique(sample))))
