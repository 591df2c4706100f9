# Generates the PyTorch checkpoints that interop/torch's tests read, and the values each
# tensor must read back as (values.json, written with full float64 precision).
#
# Run from the repository root with Debian's Python (it has torch):
#
#     /usr/bin/python3 interop/torch/testdata/gen.py
#
# Files:
#   state.pt      a bare state dict (an OrderedDict, as module.state_dict() gives): float32,
#                 float64, float16, a transposed (non-contiguous) view, two views of one
#                 storage at different offsets, a 0-d scalar, an int64 counter
#   nested.pt     a dict holding two state dicts and one more tensor ({"model": ..., "ema": ...})
#   notensor.pt   a dict with a non-tensor entry beside a tensor
#   bigendian.pt  state dict {"f": float32, "d": float64} rewritten as a big-endian archive
#                 (storages byte-swapped, archive/byteorder "big", as newer PyTorch writes on
#                 big-endian hosts); it reads back as the same values as "little.pt"
#   little.pt     the same state dict as torch.save writes it here, with archive/byteorder
#                 "little" added
#   state_legacy.pt, nested_legacy.pt
#                 state.pt's and nested.pt's dicts in PyTorch's legacy (pre-1.6) format, as
#                 torch.save(..., _use_new_zipfile_serialization=False) writes it: pickles
#                 (magic number, protocol, system info, the object, the storage keys) followed
#                 by each storage's element count and raw little-endian bytes. They read back
#                 as the same values as state.pt and nested.pt.
#   values.json   every tensor of state.pt and nested.pt as dtype, shape and row-major values
import collections
import json
import os
import zipfile

import torch

here = os.path.dirname(os.path.abspath(__file__))
g = torch.Generator().manual_seed(28)


def rnd(*shape, dtype=torch.float32):
    return torch.randn(*shape, generator=g, dtype=torch.float64).to(dtype)


base = rnd(4, 6)
shared = rnd(10)
state = collections.OrderedDict()
state["conv.weight"] = rnd(3, 2, 2, 2)
state["conv.bias"] = rnd(3)
state["double"] = rnd(2, 3, dtype=torch.float64)
state["half"] = rnd(5, dtype=torch.float16)
state["transposed"] = base.t()  # shape (6, 4), strides (1, 6)
state["shared.a"] = shared[2:5]  # storage offset 2
state["shared.b"] = shared[4:10].view(2, 3)  # same storage, offset 4
state["scalar"] = torch.tensor(3.25)
state["counter"] = torch.tensor(7, dtype=torch.int64)
assert not state["transposed"].is_contiguous()
torch.save(state, os.path.join(here, "state.pt"))

nested = {
    "model": collections.OrderedDict([("w", rnd(2, 2)), ("b", rnd(2))]),
    "ema": collections.OrderedDict([("w", rnd(2, 2)), ("b", rnd(2))]),
    "top": rnd(3),
}
torch.save(nested, os.path.join(here, "nested.pt"))
torch.save(state, os.path.join(here, "state_legacy.pt"), _use_new_zipfile_serialization=False)
torch.save(nested, os.path.join(here, "nested_legacy.pt"), _use_new_zipfile_serialization=False)

torch.save({"w": rnd(2), "step": 12}, os.path.join(here, "notensor.pt"))

order = collections.OrderedDict([("f", rnd(3)), ("d", rnd(2, dtype=torch.float64))])
torch.save(order, os.path.join(here, "plain.pt"))
# torch.save numbers storages in the order it meets them: f's is data/0, d's data/1.
widths = {"0": 4, "1": 8}
for name, big in (("bigendian.pt", True), ("little.pt", False)):
    with zipfile.ZipFile(os.path.join(here, "plain.pt")) as src, zipfile.ZipFile(
        os.path.join(here, name), "w", zipfile.ZIP_STORED
    ) as dst:
        prefix = src.namelist()[0].split("/")[0]
        for info in src.infolist():
            data = src.read(info)
            key = info.filename.split("/")[-1]
            if big and info.filename.startswith(prefix + "/data/") and key in widths:
                w = widths[key]
                data = b"".join(data[i : i + w][::-1] for i in range(0, len(data), w))
            dst.writestr(info, data)
        stamp = zipfile.ZipInfo(prefix + "/byteorder", date_time=(1980, 1, 1, 0, 0, 0))
        dst.writestr(stamp, "big" if big else "little")
os.remove(os.path.join(here, "plain.pt"))


def describe(t):
    return {
        "dtype": str(t.dtype).replace("torch.", ""),
        "shape": list(t.shape),
        "values": [float(v) for v in t.reshape(-1).tolist()],
    }


values = {"state": collections.OrderedDict((k, describe(v)) for k, v in state.items())}
flat = collections.OrderedDict()
for outer in ("model", "ema"):
    for k, v in nested[outer].items():
        flat[outer + "." + k] = describe(v)
flat["top"] = describe(nested["top"])
values["nested"] = flat
values["order"] = collections.OrderedDict((k, describe(v)) for k, v in order.items())
with open(os.path.join(here, "values.json"), "w") as f:
    json.dump(values, f, indent=1)
