# Writes the small files interop/npy's tests read: what numpy.save, numpy.savez (as
# improved-diffusion's image_sample.py) and numpy.savez_compressed (as pytorch-fid's
# save_fid_stats) write. Values are simple formulas the tests compute again.
#
# Run from the repository root with Debian's Python:
#   /usr/bin/python3 interop/npy/testdata/gen_numpy.py
import os

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))


def path(name):
    return os.path.join(here, name)


# x_T as PyTorch lays it out: float32 [N, C, H, W]; value i / 8 - 3 at flat index i.
noise = (np.arange(2 * 3 * 4 * 5, dtype=np.float64) / 8 - 3).astype(np.float32).reshape(2, 3, 4, 5)
np.save(path("noise_2x3x4x5.npy"), noise)
# The same values as float64 and in Fortran order, which a reader of float32 C-order refuses.
np.save(path("noise_float64.npy"), noise.astype(np.float64))
np.save(path("noise_fortran.npy"), np.asfortranarray(noise))

# Samples as image_sample.py saves them: np.savez(out_path, arr) with uint8 [N, H, W, C];
# value (7 i) mod 256 at flat index i.
samples = ((np.arange(2 * 4 * 5 * 3) * 7) % 256).astype(np.uint8).reshape(2, 4, 5, 3)
np.savez(path("samples_2x4x5x3.npz"), samples)

# pytorch-fid statistics: mu[i] = i / 4, sigma[i, j] = 1 / (1 + i + j) (a Hilbert matrix).
d = 6
mu = np.arange(d, dtype=np.float64) / 4
sigma = 1.0 / (1.0 + np.add.outer(np.arange(d), np.arange(d))).astype(np.float64)
np.savez_compressed(path("fid_stats_6.npz"), mu=mu, sigma=sigma)
