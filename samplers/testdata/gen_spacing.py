# Generates spacing.json: the timesteps improved-diffusion keeps for one section of K steps
# out of T (its own space_timesteps, imported, not copied), numpy's linspace(0, T-1, K).round()
# for comparison, and the DDIM paper's integer stride as improved-diffusion's "ddimK" picks it.
#
# Run from the repository root with Debian's Python and the reference code on the path:
#   PYTHONPATH=/work/ref/improved-diffusion /usr/bin/python3 samplers/testdata/gen_spacing.py
import json
import os

import numpy as np
from improved_diffusion.respace import space_timesteps

Ts = [50, 100, 250, 1000, 4000]
Ks = [5, 10, 20, 25, 50, 100, 250, 500]

cases = []
for T in Ts:
    for K in Ks:
        if K > T:
            continue
        case = {
            "T": T,
            "K": K,
            "improved_diffusion": sorted(space_timesteps(T, [K])),
            "numpy_linspace_round": [int(v) for v in np.linspace(0, T - 1, K).round()],
        }
        try:
            case["ddim"] = sorted(space_timesteps(T, "ddim%d" % K))
        except ValueError:
            case["ddim"] = None  # no integer stride gives exactly K steps
        cases.append(case)

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "spacing.json")
with open(out, "w") as f:
    json.dump(cases, f, separators=(",", ":"))
    f.write("\n")
print(len(cases), "cases written to", out)
