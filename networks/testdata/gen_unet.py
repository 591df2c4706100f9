"""Generates the U-Net replica fixtures (unet_*.json + unet_*.bin) of networks/replica_test.go.

Run from the repository root, with Debian's Python (torch 1.13):

    PYTHONPATH=/path/to/openai/improved-diffusion /usr/bin/python3 networks/testdata/gen_unet.py

The reference is improved-diffusion's own UNetModel (imported, not copied), at tiny sizes,
with every parameter random (its zero-initialised layers too, so that every layer shows in
the output), run in float64 on float32-rounded weights and inputs. Its normalization()
always has 32 groups and computes in float32 (GroupNorm32); here it is nn.GroupNorm(groups,
ch), the same layer without the float32 cast, with each case's groups.
Its Downsample without a convolution calls avg_pool_nd(stride), which cannot build (the dims
argument is missing; guided-diffusion later wrote avg_pool_nd(dims, kernel_size=stride,
stride=stride)): here it is that 2x2 average pooling.
The timestep embedding stays improved-diffusion's own float32 computation (as the runner's),
converted to float64 for the rest of the network.

Each case writes unet_NAME.json (the runner's network parameters, the image shape, the
timesteps, labels, and where each tensor lies in the .bin) and unet_NAME.bin (float32
little-endian: every state_dict tensor in PyTorch's layout, then x_t in the runner's
[B, H*W*C] HWC layout, then the expected output in the runner's layout [B, k, H*W, C] for
k = out_channels / C, the mean part first as the predictor splits it).
"""
import json
import os

import numpy as np
import torch as th

import improved_diffusion.unet as idunet

idunet.avg_pool_nd = lambda stride: th.nn.AvgPool2d(kernel_size=stride, stride=stride)
_embedding = idunet.timestep_embedding
idunet.timestep_embedding = lambda t, dim: _embedding(t, dim).double()

HERE = os.path.dirname(os.path.abspath(__file__))

CASES = [
    # name, runner params, image (h, w, c), out channels, reference extras
    dict(name="groups32_attention", params=dict(norm="group", channels=32, mults=[1], res_blocks=1, attention=[8], heads=1, groups=32),
         image=(8, 8, 3), out=3),
    dict(name="heads_scaleshift_sigma", params=dict(norm="group", channels=12, mults=[1, 2], res_blocks=2, attention=[8, 4], heads=4,
                                                    groups=4, scale_shift=True, dropout=0.3),
         image=(8, 8, 3), out=6),
    dict(name="timescale_pool", params=dict(norm="group", channels=16, mults=[1, 2, 2], res_blocks=1, attention=[2], heads=2, groups=4,
                                            time_scale=0.25, resample_conv=False),
         image=(8, 8, 3), out=3),
    dict(name="class_conditional", params=dict(norm="group", channels=16, mults=[1, 2], res_blocks=1, groups=8, dropout=0.1),
         image=(8, 8, 1), out=2, classes=3),
]


def build(case):
    p = case["params"]
    h, w, c = case["image"]
    groups = p.get("groups", 32)
    idunet.normalization = lambda ch: th.nn.GroupNorm(groups, ch)
    ds = [h // r for r in p.get("attention", [])]
    return idunet.UNetModel(
        in_channels=c, model_channels=p["channels"], out_channels=case["out"], num_res_blocks=p["res_blocks"],
        attention_resolutions=tuple(ds), dropout=p.get("dropout", 0.0), channel_mult=tuple(p["mults"]),
        conv_resample=p.get("resample_conv", True), num_classes=case.get("classes"), num_heads=p.get("heads", 1),
        use_scale_shift_norm=p.get("scale_shift", False))


def main():
    for seed, case in enumerate(CASES):
        th.manual_seed(seed)
        model = build(case)
        for name, t in model.state_dict().items():
            if name.endswith("in_layers.0.weight") or name.endswith("out_layers.0.weight") or \
                    name.endswith("norm.weight") or name == "out.0.weight":
                t.copy_(1 + 0.2 * th.randn_like(t))  # GroupNorm scales near 1
            else:
                t.copy_(0.2 * th.randn_like(t))
        f32 = {k: v.float().numpy().astype("<f4") for k, v in model.state_dict().items()}
        model = model.double().eval()
        model.load_state_dict({k: th.from_numpy(v.astype(np.float64)) for k, v in f32.items()})
        h, w, c = case["image"]
        b = 2
        rng = np.random.default_rng(100 + seed)
        x_hwc = rng.standard_normal((b, h, w, c)).astype("<f4")
        ts = [3, 250]
        scale = case["params"].get("time_scale", 1.0)
        y = [0, case["classes"] - 1] if case.get("classes") else None
        with th.no_grad():
            x = th.from_numpy(x_hwc.astype(np.float64)).permute(0, 3, 1, 2)
            t = th.tensor(ts, dtype=th.float64) * scale
            out = model(x, t, th.tensor(y) if y is not None else None)  # [B, out, H, W]
        k = case["out"] // c
        out = out.reshape(b, k, c, h, w).permute(0, 1, 3, 4, 2).reshape(b, -1).numpy().astype("<f4")
        index = dict(params=case["params"], image=list(case["image"]), out_channels=case["out"], batch=b,
                     timesteps=ts, labels=y, classes=case.get("classes", 0), tensors=[])
        blobs, offset = [], 0
        for name, v in f32.items():
            index["tensors"].append(dict(name=name, shape=list(v.shape), offset=offset))
            blobs.append(v.ravel())
            offset += v.size
        index["x"] = offset
        blobs.append(x_hwc.ravel())
        offset += x_hwc.size
        index["out"] = offset
        blobs.append(out.ravel())
        stem = os.path.join(HERE, "unet_" + case["name"])
        np.concatenate(blobs).astype("<f4").tofile(stem + ".bin")
        with open(stem + ".json", "w") as f:
            json.dump(index, f, indent=1)
            f.write("\n")
        print(stem, offset + out.size, "values; out[0, :4] =", out[0, :4])


if __name__ == "__main__":
    main()
