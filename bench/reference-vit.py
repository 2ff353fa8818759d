#!/usr/bin/env python3
"""Independent reference for basin's ViT math (PyTorch + SciPy; not used by tests or CI).

Builds the timm-named ViT of two safetensors checkpoints with its own code (torch.nn.functional),
and reports, as JSON on stdout:
  - logits: the largest difference from the logits basin computed for the same images;
  - invariance: the largest logit change after a random permutation of every symmetry (the stream,
    per block the heads with their q/k and v units, and the MLP hidden units), drawn here;
  - curves: loss and accuracy along alpha for the naive interpolation, for the one aligned by this
    script's own weight matching (heads matched as blocks, each level an exact assignment), and
    for the one aligned by basin's permutations.

  python3 bench/reference-vit.py A.safetensors B.safetensors DATA.safetensors CONFIG.json
  npx tsx bench/compare-reference-vit.ts   # writes DATA and CONFIG from basin, runs this, compares

DATA holds x [N, C, H, W], y [N] and basin's logits of A [N, K]; CONFIG holds heads, eps, pool,
alphas, seed and basin's permutations (per space: its tensor axes and its permutation).
"""
import json
import sys

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment

from reference_common import load as load_stored


def load(path):
    return {name: torch.from_numpy(t) for name, t in load_stored(path, float64=False).items()}


def depth_of(w):
    return 1 + max(int(k.split('.')[1]) for k in w if k.startswith('blocks.'))


def forward(w, x, heads, eps, pool):
    """timm VisionTransformer.forward, written out."""
    t = F.conv2d(x, w['patch_embed.proj.weight'], w['patch_embed.proj.bias'], stride=w['patch_embed.proj.weight'].shape[-1])
    t = t.flatten(2).transpose(1, 2)
    prefix = 0
    if 'cls_token' in w:
        t = torch.cat([w['cls_token'].expand(t.shape[0], -1, -1), t], 1)
        prefix = w['cls_token'].shape[1]
    t = t + w['pos_embed']
    n, T, D = t.shape
    dh = D // heads
    for i in range(depth_of(w)):
        p = f'blocks.{i}.'
        h = F.layer_norm(t, (D,), w[p + 'norm1.weight'], w[p + 'norm1.bias'], eps)
        qkv = F.linear(h, w[p + 'attn.qkv.weight'], w[p + 'attn.qkv.bias']).reshape(n, T, 3, heads, dh).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        a = ((q * dh ** -0.5) @ k.transpose(-2, -1)).softmax(-1)
        o = (a @ v).transpose(1, 2).reshape(n, T, D)
        t = t + F.linear(o, w[p + 'attn.proj.weight'], w[p + 'attn.proj.bias'])
        h = F.layer_norm(t, (D,), w[p + 'norm2.weight'], w[p + 'norm2.bias'], eps)
        t = t + F.linear(F.gelu(F.linear(h, w[p + 'mlp.fc1.weight'], w[p + 'mlp.fc1.bias'])), w[p + 'mlp.fc2.weight'], w[p + 'mlp.fc2.bias'])
    if pool == 'token':
        z = F.layer_norm(t, (D,), w['norm.weight'], w['norm.bias'], eps)[:, 0]
    elif 'fc_norm.weight' in w:
        z = F.layer_norm(t[:, prefix:].mean(1), (D,), w['fc_norm.weight'], w['fc_norm.bias'], eps)
    else:
        z = F.layer_norm(t, (D,), w['norm.weight'], w['norm.bias'], eps)[:, prefix:].mean(1)
    return F.linear(z, w['head.weight'], w['head.bias'])


class Spaces:
    """This script's own reading of a timm ViT's symmetries: (tensor, axis, start, length) per space."""

    def __init__(self, w, heads):
        D = w['patch_embed.proj.weight'].shape[0]
        self.heads, self.dh = heads, D // heads
        stream = [('patch_embed.proj.weight', 0), ('patch_embed.proj.bias', 0), ('pos_embed', 2), ('head.weight', 1)]
        stream += [(n, 0) for n in ('norm.weight', 'norm.bias', 'fc_norm.weight', 'fc_norm.bias') if n in w]
        if 'cls_token' in w:
            stream.append(('cls_token', 2))
        self.free, self.blocks = [[(t, a, 0, D) for t, a in stream]], []
        for i in range(depth_of(w)):
            p = f'blocks.{i}.'
            self.free[0] += [(p + n, a, 0, D) for n, a in [('norm1.weight', 0), ('norm1.bias', 0), ('attn.qkv.weight', 1), ('attn.proj.weight', 0), ('attn.proj.bias', 0),
                                                         ('norm2.weight', 0), ('norm2.bias', 0), ('mlp.fc1.weight', 1), ('mlp.fc2.weight', 0), ('mlp.fc2.bias', 0)]]
            M = w[p + 'mlp.fc1.weight'].shape[0]
            self.free.append([(p + 'mlp.fc1.weight', 0, 0, M), (p + 'mlp.fc1.bias', 0, 0, M), (p + 'mlp.fc2.weight', 1, 0, M)])
            qk = [(p + 'attn.qkv.weight', 0, 0, D), (p + 'attn.qkv.bias', 0, 0, D), (p + 'attn.qkv.weight', 0, D, D), (p + 'attn.qkv.bias', 0, D, D)]
            v = [(p + 'attn.qkv.weight', 0, 2 * D, D), (p + 'attn.qkv.bias', 0, 2 * D, D), (p + 'attn.proj.weight', 1, 0, D)]
            self.blocks.append((qk, v))

    def all(self):
        return self.free + [s for pair in self.blocks for s in pair]


def apply(w, space, perm):
    out = dict(w)
    for t, a, start, length in space:
        x = out[t]
        idx = torch.arange(x.shape[a])
        idx[start:start + length] = start + torch.as_tensor(perm, dtype=torch.long)
        out[t] = x.index_select(a, idx)
    return out


def apply_all(w, spaces, perms):
    for s, p in zip(spaces, perms):
        w = apply(w, s, p)
    return w


def random_perms(sp, rng):
    perms = [rng.permutation(s[0][3]) for s in sp.free]
    for _ in sp.blocks:
        order = rng.permutation(sp.heads)
        perms += [np.concatenate([order[a] * sp.dh + rng.permutation(sp.dh) for a in range(sp.heads)]) for _ in range(2)]
    return perms


def cost(wa, wb, space):
    """score[i, j] = sum over the space's axes of <A's unit i, B's unit j>."""
    n = space[0][3]
    c = torch.zeros(n, n, dtype=torch.float64)
    for t, a, start, length in space:
        xa = wa[t].narrow(a, start, length).movedim(a, 0).reshape(n, -1).double()
        xb = wb[t].narrow(a, start, length).movedim(a, 0).reshape(n, -1).double()
        c += xa @ xb.T
    return c.numpy()


def lsa(c):
    return linear_sum_assignment(c, maximize=True)[1]


def block_assign(costs, heads, dh):
    score = np.zeros((heads, heads))
    inner = {}
    for a in range(heads):
        for b in range(heads):
            for m, c in enumerate(costs):
                sub = c[a * dh:(a + 1) * dh, b * dh:(b + 1) * dh]
                p = lsa(sub)
                inner[m, a, b] = p
                score[a, b] += sub[np.arange(dh), p].sum()
    order = lsa(score)
    return [np.concatenate([order[a] * dh + inner[m, a, order[a]] for a in range(heads)]) for m in range(len(costs))]


def weight_matching(wa, wb, sp, seed, max_iter=100):
    """Coordinate ascent over units (free spaces; per block the q/k and v spaces together), in a seeded order."""
    units = [[s] for s in sp.free] + [list(pair) for pair in sp.blocks]
    spaces = [s for u in units for s in u]
    perms = [np.arange(s[0][3]) for s in spaces]
    rng = np.random.default_rng(seed)
    offset = np.cumsum([0] + [len(u) for u in units])
    for _ in range(max_iter):
        improved = False
        for u in rng.permutation(len(units)):
            members = list(range(offset[u], offset[u + 1]))
            # B with every permutation but this unit's applied
            others = apply_all(wb, [spaces[k] for k in range(len(spaces)) if k not in members], [perms[k] for k in range(len(spaces)) if k not in members])
            costs = [cost(wa, others, spaces[k]) for k in members]
            new = [lsa(costs[0])] if len(members) == 1 else block_assign(costs, sp.heads, sp.dh)
            gain = sum(c[np.arange(len(p)), p].sum() - c[np.arange(len(q)), q].sum() for c, p, q in zip(costs, new, [perms[k] for k in members]))
            if gain > 1e-12:
                for k, p in zip(members, new):
                    perms[k] = p
                improved = True
        if not improved:
            break
    return apply_all(wb, spaces, perms)


def curve(wa, wb, x, y, alphas, heads, eps, pool):
    out = []
    for al in alphas:
        w = {k: (1 - al) * wa[k] + al * wb[k] for k in wa}
        z = forward(w, x, heads, eps, pool)
        out.append((F.cross_entropy(z, y).item(), (z.argmax(1) == y).float().mean().item()))
    return out


def basin_apply(wb, perm_spaces):
    for s in perm_spaces:
        space = [(t, a, start, len(s['perm'])) for t, a, start in s['axes']]
        wb = apply(wb, space, s['perm'])
    return wb


def main(path_a, path_b, path_data, path_config):
    torch.set_grad_enabled(False)
    wa, wb, d = load(path_a), load(path_b), load(path_data)
    cfg = json.load(open(path_config))
    heads, eps, pool = cfg['heads'], cfg['eps'], cfg['pool']
    x, y = d['x'].float(), d['y'].long()
    logits = forward(wa, x, heads, eps, pool)
    sp = Spaces(wa, heads)
    rng = np.random.default_rng(cfg['seed'])
    permuted = apply_all(wa, sp.all(), random_perms(sp, rng))
    report = {
        'logits': (logits - d['logits']).abs().max().item(),
        'logitScale': d['logits'].abs().max().item(),
        'invariance': (forward(permuted, x, heads, eps, pool) - logits).abs().max().item(),
        'naive': curve(wa, wb, x, y, cfg['alphas'], heads, eps, pool),
        'aligned': curve(wa, weight_matching(wa, wb, sp, cfg['seed']), x, y, cfg['alphas'], heads, eps, pool),
        'basinPerms': curve(wa, basin_apply(wb, cfg['spaces']), x, y, cfg['alphas'], heads, eps, pool),
    }
    print(json.dumps(report))


if __name__ == '__main__':
    main(*sys.argv[1:5])
