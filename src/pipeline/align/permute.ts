import type { PermAxis, PermSpec } from '../model/permspec.ts';
import type { FloatTensor, StateDict } from '../model/tensor.ts';

/**
 * Permutations are arrays `perm` with the convention: permuted[i] = original[perm[i]] along the
 * axis, i.e. channel i of the aligned model is channel perm[i] of the original.
 */
export type Perm = Int32Array;

export const identityPerm = (n: number): Perm => Int32Array.from({ length: n }, (_, i) => i);

export function invertPerm(p: Perm): Perm {
  const inv = new Int32Array(p.length);
  for (let i = 0; i < p.length; i++) inv[p[i]] = i;
  return inv;
}

/** Spread a channel permutation over an axis holding `repeat` features per channel. */
export function expandPerm(perm: Perm, repeat: number, channelMajor: boolean): Int32Array {
  if (repeat === 1) return perm;
  const c = perm.length;
  const out = new Int32Array(c * repeat);
  for (let i = 0; i < c; i++) {
    for (let j = 0; j < repeat; j++) {
      if (channelMajor) out[i * repeat + j] = perm[i] * repeat + j;
      else out[j * c + i] = j * c + perm[i];
    }
  }
  return out;
}

/**
 * The gather index a space's permutation makes on a tensor axis of `length` entries: its channels
 * spread over `repeat` entries each, and, on an axis shared with other spaces, only its own block
 * (from `offset`) moved.
 */
export function axisIndex(perm: Perm, axis: PermAxis, length: number): Int32Array {
  const block = expandPerm(perm, axis.repeat, axis.channelMajor);
  if (axis.offset === undefined) return block;
  if (axis.offset + block.length > length) throw new Error(`tensor ${axis.tensor} axis ${axis.axis} has ${length} entries; a block of ${block.length} at ${axis.offset} does not fit`);
  const index = Int32Array.from({ length }, (_, i) => i);
  for (let i = 0; i < block.length; i++) index[axis.offset + i] = axis.offset + block[i];
  return index;
}

function strides(shape: readonly number[], axis: number): { outer: number; len: number; inner: number } {
  let outer = 1;
  let inner = 1;
  for (let d = 0; d < axis; d++) outer *= shape[d];
  for (let d = axis + 1; d < shape.length; d++) inner *= shape[d];
  return { outer, len: shape[axis], inner };
}

/** Gather `data` along `axis` with an index map (out[.., i, ..] = in[.., index[i], ..]). */
export function gatherAxis(data: Float32Array, shape: readonly number[], axis: number, index: Int32Array): Float32Array {
  const { outer, len, inner } = strides(shape, axis);
  if (index.length !== len) throw new Error(`permutation of length ${index.length} applied to an axis of length ${len}`);
  const out = new Float32Array(data.length);
  for (let o = 0; o < outer; o++) {
    const base = o * len * inner;
    if (inner === 1) {
      for (let i = 0; i < len; i++) out[base + i] = data[base + index[i]];
    } else {
      for (let i = 0; i < len; i++) out.set(data.subarray(base + index[i] * inner, base + (index[i] + 1) * inner), base + i * inner);
    }
  }
  return out;
}

/** Apply one permutation per space to every axis the spec lists; integer tensors pass through untouched. */
export function applyPermutations(state: StateDict, spec: PermSpec, perms: readonly Perm[], skipSpace = -1): StateDict {
  const byTensor = new Map<string, { axis: PermAxis; perm: Perm }[]>();
  spec.spaces.forEach((space, s) => {
    if (s === skipSpace) return;
    for (const axis of space.axes) {
      const list = byTensor.get(axis.tensor) ?? [];
      list.push({ axis, perm: perms[s] });
      byTensor.set(axis.tensor, list);
    }
  });
  const out: StateDict = new Map();
  for (const [name, t] of state) {
    const moves = byTensor.get(name);
    if (!moves || t.kind !== 'float') { out.set(name, t); continue; }
    let data = t.data;
    for (const { axis, perm } of moves) data = gatherAxis(data, t.shape, axis.axis, axisIndex(perm, axis, t.shape[axis.axis]));
    out.set(name, { ...t, data });
  }
  return out;
}

/**
 * The [C, rest] matrix of a tensor with one permuted axis moved first (its `repeat` entries per
 * channel folded into the row; on a shared axis, only this space's block). Two tensors viewed with
 * the same axis have matching column orders, which is all weight matching needs.
 */
export function channelRows(t: FloatTensor, axis: PermAxis, channels: number): Float32Array {
  const { outer, len, inner } = strides(t.shape, axis.axis);
  const r = axis.repeat;
  const offset = axis.offset ?? 0;
  const fits = axis.offset === undefined ? len === channels * r : offset + channels * r <= len;
  if (!fits) throw new Error(`tensor ${axis.tensor} axis ${axis.axis} has ${len} entries, expected ${channels} x ${r}${axis.offset === undefined ? '' : ` from ${offset}`}`);
  const rest = outer * r * inner;
  const out = new Float32Array(channels * rest);
  const src = t.data;
  for (let c = 0; c < channels; c++) {
    let k = c * rest;
    for (let o = 0; o < outer; o++) {
      for (let j = 0; j < r; j++) {
        const idx = offset + (axis.channelMajor ? c * r + j : j * channels + c);
        const from = (o * len + idx) * inner;
        if (inner === 1) out[k++] = src[from];
        else { out.set(src.subarray(from, from + inner), k); k += inner; }
      }
    }
  }
  return out;
}
