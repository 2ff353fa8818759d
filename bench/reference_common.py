"""What the independent references (bench/reference-*.py) share: a safetensors reader and basin's seeded visiting order (mulberry32 + Fisher-Yates)."""
import json
import struct

import numpy as np


def load(path):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, e in header.items():
        if name == '__metadata__':
            continue
        assert e['dtype'] == 'F32', f'{name}: only F32 here'
        b, end = e['data_offsets']
        out[name] = np.frombuffer(data[b:end], dtype='<f4').reshape(e['shape']).astype(np.float64)
    return out


def mulberry32(seed):
    a = seed & 0xFFFFFFFF

    def imul(x, y):
        return (x * y) & 0xFFFFFFFF

    def rand():
        nonlocal a
        a = (a + 0x6D2B79F5) & 0xFFFFFFFF
        t = a
        t = imul(t ^ (t >> 15), t | 1)
        t ^= (t + imul(t ^ (t >> 7), t | 61)) & 0xFFFFFFFF
        return ((t ^ (t >> 14)) & 0xFFFFFFFF) / 4294967296

    return rand


def random_permutation(n, rand):
    p = list(range(n))
    for i in range(n - 1, 0, -1):
        j = int(rand() * (i + 1))
        p[i], p[j] = p[j], p[i]
    return p
