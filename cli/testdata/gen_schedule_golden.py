#!/usr/bin/python3
"""Writes golden schedule tables with numpy, independently of the Go code.

It follows the formulas of openai/improved-diffusion (get_named_beta_schedule and the
attributes GaussianDiffusion derives from the betas). Run with Debian's python3 and
python3-numpy:  /usr/bin/python3 cli/testdata/gen_schedule_golden.py
"""
import gzip
import math

import numpy as np


def linear(T):
    scale = 1000 / T
    return np.linspace(scale * 0.0001, scale * 0.02, T, dtype=np.float64)


def cosine(T, s=0.008, max_beta=0.999):
    f = lambda t: math.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    return np.array([min(1 - f((i + 1) / T) / f(i / T), max_beta) for i in range(T)], dtype=np.float64)


def table(betas):
    alphas = 1.0 - betas
    ac = np.cumprod(alphas, axis=0)
    ac_prev = np.append(1.0, ac[:-1])
    pv = betas * (1.0 - ac_prev) / (1.0 - ac)
    plv = np.log(np.append(pv[1], pv[1:]))
    c1 = betas * np.sqrt(ac_prev) / (1.0 - ac)
    c2 = (1.0 - ac_prev) * np.sqrt(alphas) / (1.0 - ac)
    return [betas, ac, ac_prev, pv, plv, c1, c2]


HEADER = "t,beta,alpha_bar,alpha_bar_prev,posterior_variance,posterior_log_variance_clipped,posterior_mean_coef1,posterior_mean_coef2"

for name, fn, T in [(n, f, T) for n, f in (("cosine", cosine), ("linear", linear)) for T in (50, 1000, 4000)]:
    cols = table(fn(T))
    with gzip.open(f"cli/testdata/{name}_T{T}.csv.gz", "wt") as out:
        out.write(HEADER + "\n")
        for t in range(T):
            out.write(",".join([str(t)] + [repr(float(c[t])) for c in cols]) + "\n")
