"""Writes tiny CIFAR-10 python batches (cifar-10-batches-py) for datasets/cifar10_test.go.

Run once from the repository root with Debian's Python 3 and NumPy:

    /usr/bin/python3 datasets/testdata/cifar10/gen_cifar10_py.py

Each batch is what CIFAR-10's own files hold, a dict of b'batch_label', b'labels' (a list of
ints), b'data' (a uint8 NumPy array [n, 3072]: the red plane, then green, then blue, each
32x32 row-major) and b'filenames', with 3 records per training batch and 4 in test_batch
(the real files have 10,000). Two layouts:

- py2/cifar-10-batches-py: as CIFAR-10 ships them, pickled by Python 2's cPickle at protocol
  2, where every string (the keys, the array's raw bytes) is a Python 2 str. Python 3 cannot
  write a Python 2 str, so the pickler below writes bytes and str with the opcodes Python 2
  used for its str (SHORT_BINSTRING, BINSTRING); the rest is pickle's own protocol 2.
- py3/cifar-10-batches-py: the same dicts written by Python 3's pickle.dump at protocol 2
  (bytes as _codecs.encode(s, 'latin1')), as a user who re-pickled the data would have them.

Pixel (c, y, x) of record r of a split is (37 r + 85 c + 7 y + 3 x) mod 256; its label is
(3 r + 1) mod 10 in training and (7 r + 2) mod 10 in test, r counting from 0 across the
split's files in order. The test computes the same values.
"""
import os
import pickle
import struct

import numpy as np

TRAIN_PER_BATCH, TEST_N = 3, 4


def batch(first, n, label, name):
    r = np.arange(first, first + n)[:, None, None, None]
    c = np.arange(3)[None, :, None, None]
    y = np.arange(32)[None, None, :, None]
    x = np.arange(32)[None, None, None, :]
    data = ((37 * r + 85 * c + 7 * y + 3 * x) % 256).astype(np.uint8).reshape(n, 3072)
    labels = [int(label(first + i)) for i in range(n)]
    return {b'batch_label': name.encode(), b'labels': labels, b'data': data,
            b'filenames': [('img_%05d.png' % (first + i)).encode() for i in range(n)]}


class Py2Pickler(pickle._Pickler):
    """pickle's pure-Python pickler, with bytes and str written as Python 2's str."""
    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2_str(self, obj):
        b = obj if isinstance(obj, bytes) else obj.encode('latin1')
        if len(b) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(b)]) + b)
        else:
            self.write(pickle.BINSTRING + struct.pack('<i', len(b)) + b)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str
    dispatch[str] = save_py2_str


def main():
    root = os.path.dirname(os.path.abspath(__file__))
    files = [('data_batch_%d' % k, batch((k - 1) * TRAIN_PER_BATCH, TRAIN_PER_BATCH, lambda r: (3 * r + 1) % 10,
                                          'training batch %d of 5' % k)) for k in range(1, 6)]
    files.append(('test_batch', batch(0, TEST_N, lambda r: (7 * r + 2) % 10, 'testing batch 1 of 1')))
    for layout in ('py2', 'py3'):
        out = os.path.join(root, layout, 'cifar-10-batches-py')
        os.makedirs(out, exist_ok=True)
        for name, d in files:
            with open(os.path.join(out, name), 'wb') as f:
                if layout == 'py2':
                    Py2Pickler(f, protocol=2).dump(d)
                else:
                    pickle.dump(d, f, protocol=2)
            # The files must read back as CIFAR-10's own do.
            with open(os.path.join(out, name), 'rb') as f:
                back = pickle.load(f, encoding='bytes')
            assert back[b'labels'] == d[b'labels'] and np.array_equal(back[b'data'], d[b'data'])


if __name__ == '__main__':
    main()
