#!/usr/bin/env python3
"""Independent reference for basin's weight matching on an MLP pair (numpy + SciPy, not used by tests or CI).

Reads two PyTorch-layout MLP checkpoints (safetensors, float32), runs Git Re-Basin weight matching
with SciPy's linear_sum_assignment, visiting the permutations in the same seeded order basin uses
(mulberry32 + Fisher-Yates), and prints the permutations and the iteration count as JSON.

  python3 bench/reference-weight-matching.py examples/mnist-mlp3x512/seed1.safetensors examples/mnist-mlp3x512/seed2.safetensors
  npx tsx bench/compare-reference.ts   # runs both and compares
"""
import json
import sys

import numpy as np
from scipy.optimize import linear_sum_assignment

from reference_common import load, mulberry32, random_permutation


def main(path_a, path_b, max_iter=100, seed=0):
    a, b = load(path_a), load(path_b)
    layers = sorted({k.rsplit('.', 1)[0] for k in a if k.endswith('.weight')}, key=lambda s: int(s.split('.')[-1]))
    hidden = layers[:-1]  # permutation P_i acts on the outputs of layer i and the inputs of layer i+1
    perms = [np.arange(a[f'{l}.weight'].shape[0]) for l in hidden]
    rand = mulberry32(seed)

    def permuted_b(i, except_space):
        """B's weight of layer i with every permutation but `except_space` applied."""
        w = b[f'{layers[i]}.weight']
        bias = b[f'{layers[i]}.bias']
        if i < len(hidden) and i != except_space:
            w, bias = w[perms[i]], bias[perms[i]]
        if i > 0 and i - 1 != except_space:
            w = w[:, perms[i - 1]]
        return w, bias

    iterations = 0
    for it in range(max_iter):
        iterations = it + 1
        improved = False
        for p in random_permutation(len(hidden), rand):
            wb, bb = permuted_b(p, p)
            cost = a[f'{layers[p]}.weight'] @ wb.T + np.outer(a[f'{layers[p]}.bias'], bb)
            wn, _ = permuted_b(p + 1, p)
            cost += a[f'{layers[p + 1]}.weight'].T @ wn
            _, cols = linear_sum_assignment(cost, maximize=True)
            old = cost[np.arange(len(cols)), perms[p]].sum()
            new = cost[np.arange(len(cols)), cols].sum()
            if new - old > 1e-12:
                perms[p] = cols
                improved = True
        if not improved:
            break
    print(json.dumps({'iterations': iterations, 'perms': [p.tolist() for p in perms]}))


if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2])
