"""What the independent references (bench/reference-*.py) share: a safetensors reader and basin's seeded visiting order (mulberry32 + Fisher-Yates)."""
import json
import struct

import numpy as np


DTYPES = {'F32': '<f4', 'I64': '<i8', 'I32': '<i4', 'U8': 'u1'}


def load(path, float64=True):
    """Tensors by name: F32 ones as float64 (the weight-matching references compute in double), or, with
    float64=False, every tensor in its stored dtype."""
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, e in header.items():
        if name == '__metadata__':
            continue
        assert e['dtype'] in DTYPES and (not float64 or e['dtype'] == 'F32'), f"{name}: {e['dtype']} is not read here"
        b, end = e['data_offsets']
        t = np.frombuffer(data[b:end], dtype=DTYPES[e['dtype']]).reshape(e['shape'])
        out[name] = t.astype(np.float64) if float64 else t.copy()
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
