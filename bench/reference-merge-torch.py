#!/usr/bin/env python3
"""Independent PyTorch implementation of one basin merge, for `npm run bench:merge` (never a dependency).

Weight matching (Git Re-Basin, SciPy's linear_sum_assignment, permutations visited in basin's seeded
order), REPAIR (parents' per-channel mean/std once per model; per alpha one pass with each site
normalised by its batch statistics and given the interpolated targets, then fused into the weights),
and the sweep of naive / aligned / repaired on the evaluation set, the path's shared ends evaluated once.

  python3 bench/reference-merge-torch.py JOB.json   # written by bench/merge.ts; prints one JSON line

JOB.json: {"layers": [...basin's expanded layer list...], "input": [C, H, W], "models": [a, b],
"calibration": {"x": file, "y": file, "n": N}, "evaluation": {...}, "points": 11, "threads": T,
"batch": B}; x files are raw float32 [N, C, H, W], y files raw int32 [N].
"""
import json
import resource
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment

from reference_common import load, mulberry32, random_permutation


def load_safetensors(path):
    return {k: torch.from_numpy(v.astype(np.float32)) for k, v in load(path).items()}


class Net(nn.Module):
    """A sequential net of linear / conv2d / relu / maxpool / flatten layers, named as in the checkpoint."""

    def __init__(self, layers, state):
        super().__init__()
        self.ops = []
        for layer in layers:
            t = layer['type']
            if t in ('linear', 'conv2d'):
                self.ops.append((t, layer['name'], layer.get('stride', 1), layer.get('padding', 0)))
            elif t == 'maxpool':
                self.ops.append((t, None, layer.get('kernel', 2), layer.get('stride') or layer.get('kernel', 2)))
            elif t in ('relu', 'flatten'):
                self.ops.append((t, None, None, None))
            else:
                raise ValueError(f'the reference handles linear, conv2d, relu, maxpool and flatten, not {t}')
        self.state = state

    def forward(self, x, hook=None):
        for t, name, a, b in self.ops:
            if t == 'linear':
                x = F.linear(x, self.state[f'{name}.weight'], self.state[f'{name}.bias'])
            elif t == 'conv2d':
                x = F.conv2d(x, self.state[f'{name}.weight'], self.state[f'{name}.bias'], stride=a, padding=b)
            elif t == 'relu':
                x = F.relu(x)
            elif t == 'maxpool':
                x = F.max_pool2d(x, a, b)
            else:
                x = torch.flatten(x, 1)
            if hook is not None and name is not None:
                x = hook(name, x)
        return x


def weight_layers(layers):
    return [l['name'] for l in layers if l['type'] in ('linear', 'conv2d')]


def in_blocks(w, channels):
    """A weight's input axis as [out, channels, rest]: a linear after a flattened map spreads each channel over H*W."""
    return w.reshape(w.shape[0], channels, -1)


def weight_matching(names, a, b, max_iter=100, seed=0):
    """P_i permutes the outputs of weight layer i and the inputs of layer i+1 (the last layer's outputs are fixed)."""
    hidden = names[:-1]
    sizes = [a[f'{n}.weight'].shape[0] for n in hidden]
    perms = [torch.arange(s) for s in sizes]
    rand = mulberry32(seed)

    def b_layer(i, skip):
        w, bias = b[f'{names[i]}.weight'], b[f'{names[i]}.bias']
        if i < len(hidden) and i != skip:
            w, bias = w[perms[i]], bias[perms[i]]
        if i > 0 and i - 1 != skip:
            w = in_blocks(w, sizes[i - 1])[:, perms[i - 1]].reshape(w.shape)
        return w, bias

    iterations = 0
    for it in range(max_iter):
        iterations = it + 1
        improved = False
        for p in random_permutation(len(hidden), rand):
            n = sizes[p]
            wb, bb = b_layer(p, p)
            wa = a[f'{names[p]}.weight']
            cost = wa.reshape(n, -1).double() @ wb.reshape(n, -1).double().T + torch.outer(a[f'{names[p]}.bias'].double(), bb.double())
            wn, _ = b_layer(p + 1, p)
            an = in_blocks(a[f'{names[p + 1]}.weight'], n).transpose(0, 1).reshape(n, -1)
            bn = in_blocks(wn, n).transpose(0, 1).reshape(n, -1)
            cost += an.double() @ bn.double().T
            c = cost.numpy()
            _, cols = linear_sum_assignment(c, maximize=True)
            old = c[np.arange(n), perms[p].numpy()].sum()
            new = c[np.arange(n), cols].sum()
            if new - old > 1e-12:
                perms[p] = torch.from_numpy(cols)
                improved = True
        if not improved:
            break
    out = dict(b)
    for i, name in enumerate(names):
        w, bias = b[f'{name}.weight'], b[f'{name}.bias']
        if i < len(hidden):
            w, bias = w[perms[i]], bias[perms[i]]
        if i > 0:
            w = in_blocks(w, sizes[i - 1])[:, perms[i - 1]].reshape(w.shape)
        out[f'{name}.weight'], out[f'{name}.bias'] = w.contiguous(), bias.contiguous()
    return out, iterations


def lerp(a, b, t):
    return {k: (1 - t) * a[k] + t * b[k] for k in a}


def batches(x, y, size):
    for i in range(0, len(x), size):
        yield x[i:i + size], y[i:i + size]


@torch.no_grad()
def evaluate(layers, state, x, y, batch):
    net = Net(layers, state)
    loss, correct = 0.0, 0
    for xb, yb in batches(x, y, batch):
        out = net(xb)
        loss += F.cross_entropy(out, yb, reduction='sum').item()
        correct += (out.argmax(1) == yb).sum().item()
    return loss / len(x), correct / len(x)


def channel_dims(v):
    return [0, 2, 3] if v.dim() == 4 else [0]


@torch.no_grad()
def site_stats(layers, state, sites, x, batch):
    """Exact per-channel mean and std of each site's output over the whole set (float64 sums)."""
    sums = {}

    def hook(name, v):
        if name in sites:
            d = channel_dims(v)
            s = sums.setdefault(name, [0, 0.0, 0.0])
            s[0] += v.numel() // v.shape[1]
            s[1] = s[1] + v.double().sum(d)
            s[2] = s[2] + (v.double() ** 2).sum(d)
        return v

    net = Net(layers, state)
    for xb, _ in batches(x, x, batch):
        net(xb, hook)
    out = {}
    for name, (n, s1, s2) in sums.items():
        mean = s1 / n
        out[name] = (mean, (s2 / n - mean ** 2).clamp_min(0).sqrt())
    return out


@torch.no_grad()
def repair(layers, state, sites, goals, x, batch):
    """One pass: each site normalised by its batch statistics and given its goal (BatchNorm in train mode, momentum None), then fused."""
    acc = {}

    def hook(name, v):
        if name not in sites:
            return v
        d = channel_dims(v)
        shape = [1, -1] + [1] * (v.dim() - 2)
        mean, var = v.mean(d), v.var(d, unbiased=False)
        n = v.numel() // v.shape[1]
        a = acc.setdefault(name, [0, 0.0, 0.0])
        a[0] += n
        a[1] = a[1] + mean.double() * n
        a[2] = a[2] + (var.double() + mean.double() ** 2) * n
        gm, gs = goals[name]
        return (v - mean.view(shape)) / (var.view(shape) + 1e-5).sqrt() * gs.float().view(shape) + gm.float().view(shape)

    net = Net(layers, state)
    for xb, _ in batches(x, x, batch):
        net(xb, hook)
    out = dict(state)
    for name in sites:
        n, s1, s2 = acc[name]
        mean = s1 / n
        var = (s2 / n - mean ** 2).clamp_min(0)
        gm, gs = goals[name]
        g = gs / (var + 1e-5).sqrt()
        w = state[f'{name}.weight']
        out[f'{name}.weight'] = (w.double() * g.view([-1] + [1] * (w.dim() - 1))).float()
        out[f'{name}.bias'] = (gm + g * (state[f'{name}.bias'].double() - mean)).float()
    return out


def barrier(alphas, values):
    chord = [(1 - t) * values[0] + t * values[-1] for t in alphas]
    return max(v - c for v, c in zip(values, chord))


def main(job_path):
    job = json.load(open(job_path))
    torch.set_num_threads(job['threads'])
    layers, (c, h, w) = job['layers'], job['input']

    def dataset(d):
        x = torch.from_numpy(np.fromfile(d['x'], dtype='<f4').reshape(d['n'], c, h, w))
        y = torch.from_numpy(np.fromfile(d['y'], dtype='<i4').astype(np.int64))
        return x, y

    (cx, _), (ex, ey) = dataset(job['calibration']), dataset(job['evaluation'])
    a, b = (load_safetensors(p) for p in job['models'])
    names = weight_layers(layers)
    sites = set(names[:-1])
    batch, points = job['batch'], job['points']
    alphas = [i / (points - 1) for i in range(points)]

    t0 = time.perf_counter()
    aligned, iterations = weight_matching(names, a, b)
    t_align = time.perf_counter() - t0

    t1 = time.perf_counter()
    stats_a, stats_b = site_stats(layers, a, sites, cx, batch), site_stats(layers, aligned, sites, cx, batch)
    repaired = {}
    for t in alphas:
        goals = {s: ((1 - t) * stats_a[s][0] + t * stats_b[s][0], (1 - t) * stats_a[s][1] + t * stats_b[s][1]) for s in sites}
        repaired[t] = repair(layers, lerp(a, aligned, t), sites, goals, cx, batch)
    t_repair = time.perf_counter() - t1

    t2 = time.perf_counter()
    ends = {0.0: evaluate(layers, a, ex, ey, job['evalBatch']), 1.0: evaluate(layers, b, ex, ey, job['evalBatch'])}
    curves = {'naive': [], 'aligned': [], 'repaired': []}
    for t in alphas:
        curves['naive'].append(ends[t] if t in ends else evaluate(layers, lerp(a, b, t), ex, ey, job['evalBatch']))
        curves['aligned'].append(ends[t] if t in ends else evaluate(layers, lerp(a, aligned, t), ex, ey, job['evalBatch']))
        curves['repaired'].append(evaluate(layers, repaired[t], ex, ey, job['evalBatch']))
    t_sweep = time.perf_counter() - t2

    print(json.dumps({
        'torch': torch.__version__, 'threads': torch.get_num_threads(), 'iterations': iterations,
        'timings': {'align': t_align, 'repair': t_repair, 'sweep': t_sweep, 'total': t_align + t_repair + t_sweep},
        'barrier': {k: barrier(alphas, [l for l, _ in v]) for k, v in curves.items()},
        'accuracyAtHalf': {k: v[len(v) // 2][1] for k, v in curves.items()},
        'peakRssMiB': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


if __name__ == '__main__':
    main(sys.argv[1])
