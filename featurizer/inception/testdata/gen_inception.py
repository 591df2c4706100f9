"""Fixtures of the FID Inception tests, computed by pytorch-fid itself.

Run from the repository root with Debian's Python (torch 1.13, torchvision 0.14, scipy):

    PYTHONPATH=/work/ref/pytorch-fid/src /usr/bin/python3 featurizer/inception/testdata/gen_inception.py

PYTHONPATH points at mseitzer/pytorch-fid's source: the reference network is its own
InceptionV3 / fid_inception_v3 (torchvision's Inception3 with the FID blocks), and the
statistics and distances its own fid_score functions. Its weight download is replaced by
our seeded random weights, saved with torch.save as weights.pth: the real network's every
name and shape, made small enough to commit by drawing each convolution's and the
classifier's weight as a strided view of one shared random storage (torch.save writes a
storage once, however many tensors view it). Every value of the weights still varies with
each index (output channel, input channel, row, column), so a transposed kernel or a
misplaced channel changes the features. The BatchNorm running statistics are calibrated on
random images (one forward pass in training mode), so that activations stay near unit size
through the 94 layers.

Writes, beside this script:
  weights.pth      the weights (torch.save of the state dict, with num_batches_tracked)
  weights_legacy.pth  the same state dict in PyTorch's legacy (pre-1.6) format
                   (_use_new_zipfile_serialization=False), the format of pytorch-fid's
                   published pt_inception-2015-12-05-6726825d.pth
  other.pth        a state dict of another network (the first Inception tensor with another shape)
  images/*.png     four small RGB and grey images
  inception_ref.json  inputs and pytorch-fid's outputs (see the keys)
  frechet_ref.json    feature sets and calculate_frechet_distance on them
"""

import collections
import io
import json
import os
import sys
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from scipy import linalg

import pytorch_fid.inception as pfi
from pytorch_fid import fid_score

HERE = os.path.dirname(os.path.abspath(__file__))
torch.manual_seed(20151205)
gen = torch.Generator().manual_seed(6726825)


def shared(n, lo=None, hi=None):
    if lo is None:
        return torch.randn(n, generator=gen, dtype=torch.float32)
    return lo + (hi - lo) * torch.rand(n, generator=gen, dtype=torch.float32)


STORE = 16384
weights_storage = shared(STORE)        # convolution and classifier weights
gamma_storage = shared(2048, 0.25, 0.7)  # BatchNorm weights (below 1: rounding errors shrink through the layers)
beta_storage = shared(2048, -0.2, 0.2)  # BatchNorm biases


def strided(storage, shape, strides):
    extent = 1 + sum((d - 1) * s for d, s in zip(shape, strides))
    off = int(torch.randint(0, storage.numel() - extent + 1, (1,), generator=gen))
    return storage.as_strided(shape, strides, off)


def seeded_state_dict(model):
    """The model's state dict with our weights (BatchNorm statistics still to calibrate)."""
    sd = collections.OrderedDict()
    for name, t in model.state_dict().items():
        shape = tuple(t.shape)
        if name.endswith("conv.weight"):
            o, i, kh, kw = shape
            sd[name] = strided(weights_storage, shape, (13, kh * kw, kw, 1))
        elif name == "fc.weight":
            sd[name] = strided(weights_storage, shape, (13, 1))
        elif name.endswith("bn.weight"):
            sd[name] = strided(gamma_storage, shape, (1,))
        elif name.endswith("bn.bias"):
            sd[name] = strided(beta_storage, shape, (1,))
        elif name.endswith("running_mean"):
            sd[name] = torch.zeros(shape)
        elif name.endswith("running_var"):
            sd[name] = torch.ones(shape)
        elif name.endswith("num_batches_tracked"):
            sd[name] = torch.tensor(0)
        elif name == "fc.bias":
            sd[name] = 0.1 * torch.randn(shape, generator=gen)
        else:
            raise SystemExit("unexpected tensor " + name)
    return sd


def fid_net():
    """pytorch-fid's fid_inception_v3 built as pytorch-fid builds it, without weights."""
    saved = pfi.load_state_dict_from_url
    try:
        pfi.load_state_dict_from_url = lambda *a, **k: None
        net = pfi._inception_v3(num_classes=1008, aux_logits=False, weights=None)
        net.Mixed_5b = pfi.FIDInceptionA(192, pool_features=32)
        net.Mixed_5c = pfi.FIDInceptionA(256, pool_features=64)
        net.Mixed_5d = pfi.FIDInceptionA(288, pool_features=64)
        net.Mixed_6b = pfi.FIDInceptionC(768, channels_7x7=128)
        net.Mixed_6c = pfi.FIDInceptionC(768, channels_7x7=160)
        net.Mixed_6d = pfi.FIDInceptionC(768, channels_7x7=160)
        net.Mixed_6e = pfi.FIDInceptionC(768, channels_7x7=192)
        net.Mixed_7b = pfi.FIDInceptionE_1(1280)
        net.Mixed_7c = pfi.FIDInceptionE_2(2048)
    finally:
        pfi.load_state_dict_from_url = saved
    return net


def smooth_images(rng, shapes):
    """Smooth random uint8 images [h, w, c]: noise upsampled, plus a little fine noise."""
    out = []
    for h, w, c in shapes:
        base = rng.random((h // 4 + 1, w // 4 + 1, c))
        up = np.kron(base, np.ones((4, 4, 1)))[:h, :w, :]
        out.append(np.clip(np.round(255 * (0.6 * up + 0.4 * rng.random((h, w, c)))), 0, 255).astype(np.uint8))
    return out


def calibrated():
    net = fid_net()
    sd = seeded_state_dict(net)
    net.load_state_dict(sd)
    # One pass in training mode with momentum 1 sets every running mean and variance to the
    # batch's, so that activations stay near unit size.
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = 1.0
    net.train()
    # Images of the kind the tests use, as the network sees them.
    imgs = smooth_images(np.random.default_rng(5), [(32, 32, 3)] * 8)
    x = torch.stack([torch.from_numpy(u8).permute(2, 0, 1).float() / 255 for u8 in imgs])
    x = 2 * F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False) - 1
    with torch.no_grad():
        net(x)
    out = collections.OrderedDict()
    live = net.state_dict()
    for name, t in sd.items():
        if "running_" in name:
            out[name] = live[name].detach().clone()
        elif name.endswith("num_batches_tracked"):
            out[name] = torch.tensor(1)
        else:
            out[name] = t
    return out


def main():
    path = os.path.join(HERE, "weights.pth")
    sd = calibrated()
    torch.save(sd, path)
    torch.save(sd, os.path.join(HERE, "weights_legacy.pth"), _use_new_zipfile_serialization=False)
    count = sum(t.numel() for n, t in sd.items() if not n.endswith("num_batches_tracked"))
    print("weights.pth:", os.path.getsize(path), "bytes,", count, "values,", len(sd), "tensors")

    other = collections.OrderedDict()
    first = next(iter(sd))
    other[first] = torch.zeros(16, 3, 3, 3)
    torch.save(other, os.path.join(HERE, "other.pth"))

    # The reference network: pytorch-fid's own InceptionV3 with its download replaced by
    # reading weights.pth.
    pfi.load_state_dict_from_url = lambda *a, **k: torch.load(path)
    fidnet = pfi.fid_inception_v3().eval()
    blocks = pfi.InceptionV3(output_blocks=[0, 1, 2, 3]).eval()

    rng = np.random.default_rng(29)
    img_dir = os.path.join(HERE, "images")
    os.makedirs(img_dir, exist_ok=True)
    shapes = [("a.png", 32, 32, 3), ("b.png", 28, 28, 1), ("c.png", 36, 30, 3), ("d.png", 32, 32, 3)]
    ref = {"weights_values": count, "images": [], "resize": []}
    for name, h, w, c in shapes:
        u8 = smooth_images(rng, [(h, w, c)])[0]
        Image.fromarray(u8[:, :, 0] if c == 1 else u8, mode="L" if c == 1 else "RGB").save(os.path.join(img_dir, name))
        ref["images"].append({"file": name, "h": h, "w": w, "c": c})

    def load(name):
        # As pytorch-fid's ImagePathDataset: PIL, RGB, ToTensor.
        import torchvision.transforms as TF
        return TF.ToTensor()(Image.open(os.path.join(img_dir, name)).convert("RGB"))

    with torch.no_grad():
        # Per image (pytorch-fid's batches need one size), in float64.
        net64 = blocks.double()
        fc64 = fidnet.double().fc
        outs = collections.defaultdict(list)
        # Mixed_6d (TensorFlow's mixed_6), the seventh module of pytorch-fid's block 2.
        mixed_6d = net64.blocks[2][6]
        assert isinstance(mixed_6d, pfi.FIDInceptionC) and mixed_6d.branch1x1.conv.out_channels == 192
        captured = {}
        mixed_6d.register_forward_hook(lambda m, i, o: captured.update(out=o))
        for im in ref["images"]:
            x = load(im["file"]).unsqueeze(0).double()
            b0, b1, b2, b3 = net64(x)
            outs["dims64"].append(b0.mean(dim=(2, 3))[0].tolist())
            outs["dims192"].append(b1.mean(dim=(2, 3))[0].tolist())
            outs["dims768"].append(b2.mean(dim=(2, 3))[0].tolist())
            pool = b3.flatten(1)
            outs["pool3"].append(pool[0].tolist())
            outs["logits"].append(fc64(pool)[0].tolist())
            # The logits without the classifier's bias, as the Inception Score of Salimans et
            # al. (improved-gan) and torch-fidelity (logits_unbiased) compute them.
            outs["logits_unbiased"].append(F.linear(pool, fc64.weight)[0].tolist())
            # guided-diffusion's spatial features: TensorFlow's mixed_6/conv (Mixed_6d's
            # branch1x1, the first 192 channels of its output), its first 7 channels, channels
            # last as TensorFlow's NHWC flattens them.
            outs["spatial"].append(captured["out"][0, :7].permute(1, 2, 0).flatten().tolist())
            # Mixed_6e's output, channels last, its first 7 channels (spatial FID's).
            outs["mixed6_first7"].append(b2[0, :7].permute(1, 2, 0).flatten().tolist())
        ref.update(outs)

        # The resize alone, in float32 as pytorch-fid runs it, at a few sizes. The inputs come
        # from an integer hash that the Go test computes too: x[i] = (i * 2654435761 mod 2^32) / 2^32.
        # About 1000 outputs of each are kept, every step-th in [oh, ow, c] order.
        for h, w, c, oh, ow in [(28, 28, 1, 299, 299), (32, 32, 3, 299, 299), (40, 24, 3, 299, 299),
                                (7, 5, 2, 11, 13), (13, 11, 1, 5, 4), (300, 320, 1, 299, 299), (299, 299, 1, 299, 299)]:
            i = np.arange(h * w * c, dtype=np.uint64)
            xl = ((i * np.uint64(2654435761)) % np.uint64(2**32)).astype(np.float64) / 2**32
            # Contiguous NCHW, as pytorch-fid's batches are (the channels-last kernel rounds otherwise).
            x = torch.from_numpy(xl.astype(np.float32).reshape(h, w, c)).permute(2, 0, 1).unsqueeze(0).contiguous()
            y = F.interpolate(x, size=(oh, ow), mode="bilinear", align_corners=False)
            yl = y[0].permute(1, 2, 0).flatten()
            step = max(1, yl.numel() // 1000)
            ref["resize"].append({"h": h, "w": w, "c": c, "oh": oh, "ow": ow, "step": step,
                                  "y": yl[::step].tolist()})

    # --save-stats: pytorch-fid's own statistics of the image folder, at 64 dims (a 2048-dim
    # covariance is too big to commit), float32 network as pytorch-fid runs it, batch 1 since the images differ in size.
    pfi.load_state_dict_from_url = lambda *a, **k: torch.load(path)
    model = pfi.InceptionV3([0]).eval()
    mu, sigma = fid_score.compute_statistics_of_path(img_dir, model, 1, 64, "cpu", 0)
    ref["stats64"] = {"mu": mu.astype(np.float64).tolist(), "sigma": sigma.tolist()}

    with open(os.path.join(HERE, "inception_ref.json"), "w") as f:
        json.dump(ref, f)

    frechet()


def frechet():
    """calculate_frechet_distance on well-conditioned and on singular feature sets."""
    rng = np.random.default_rng(3)
    cases = []
    for name, n, d, shift in [("conditioned", 120, 12, 0.3), ("conditioned_far", 100, 8, 2.0),
                              ("singular", 6, 20, 0.1), ("identical", 50, 5, 0.0)]:
        mix = rng.normal(size=(d, d))
        a = rng.normal(size=(n, d)) @ mix
        b = (rng.normal(size=(n, d)) + shift) @ (mix + 0.2 * rng.normal(size=(d, d)))
        if name == "identical":
            b = a.copy()
        mu1, s1 = a.mean(0), np.cov(a, rowvar=False)
        mu2, s2 = b.mean(0), np.cov(b, rowvar=False)
        buf = io.StringIO()
        saved, sys.stdout = sys.stdout, buf
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                v = fid_score.calculate_frechet_distance(mu1, s1, mu2, s2)
        finally:
            sys.stdout = saved
        # scipy's sqrtm formula directly, for the record.
        cm = linalg.sqrtm(s1 @ s2)
        direct = float(np.real(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(cm)))
        cases.append({"name": name, "a": a.tolist(), "b": b.tolist(), "fid": float(v), "scipy_direct": direct,
                      "fallback": "singular product" in buf.getvalue()})
        print(name, v, direct, "fallback" if cases[-1]["fallback"] else "")
    with open(os.path.join(HERE, "frechet_ref.json"), "w") as f:
        json.dump(cases, f)


if __name__ == "__main__":
    main()
