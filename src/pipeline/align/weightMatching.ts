import { assignedScore, assignUnit, permutationUnits } from './blocks.ts';
import { addMatmulABt } from '../runtime/linalg.ts';
import { axisIndex, channelRows, gatherAxis, identityPerm, type Perm } from './permute.ts';
import type { PermAxis, PermSpec } from '../model/permspec.ts';
import { mulberry32, randomPermutation } from '../random.ts';
import type { FloatTensor, StateDict } from '../model/tensor.ts';

export interface WeightMatchingOptions {
  seed: number;
  maxIterations: number;
  /** warm start (default identity) */
  initial?: readonly Perm[];
  signal?: AbortSignal;
  /** called after each sweep over the permutations */
  onSweep?: (sweep: number) => void;
}
export interface WeightMatchingResult { perms: Perm[]; iterations: number }

/** Minimum gain for a new assignment to replace the current one (DESIGN 4.3). */
const MIN_IMPROVEMENT = 1e-12;

function floatOf(state: StateDict, name: string): FloatTensor {
  const t = state.get(name);
  if (!t || t.kind !== 'float') throw new Error(`weight matching: tensor ${name} missing or not float`);
  return t;
}

/**
 * Git Re-Basin weight matching: coordinate ascent over permutations, each step a linear assignment
 * maximising sum_axes <W_a, P W_b (other permutations applied)>. Visits the units (free spaces, and
 * block-tied spaces as one: attention heads with their inner q/k and v permutations, solved exactly
 * by assignUnit) in a fresh seeded order per sweep and stops after a sweep with no improvement.
 */
export function weightMatching(spec: PermSpec, target: StateDict, source: StateDict, options: WeightMatchingOptions): WeightMatchingResult {
  const perms: Perm[] = spec.spaces.map((s, i) => Int32Array.from(options.initial?.[i] ?? identityPerm(s.size)));
  // every permuted axis of each tensor, so "other permutations" can be applied per axis
  const axesOf = new Map<string, { space: number; axis: PermAxis }[]>();
  spec.spaces.forEach((space, s) => {
    for (const axis of space.axes) {
      const list = axesOf.get(axis.tensor) ?? [];
      list.push({ space: s, axis });
      axesOf.set(axis.tensor, list);
    }
  });
  /** score[i, j] of space s: target unit i against source unit j, every other permutation applied to the source */
  const costOf = (s: number): Float64Array => {
    const n = spec.spaces[s].size;
    const cost = new Float64Array(n * n);
    for (const axis of spec.spaces[s].axes) {
      const a = floatOf(target, axis.tensor);
      let bData = floatOf(source, axis.tensor).data;
      for (const other of axesOf.get(axis.tensor)!) {
        if (other.axis === axis) continue;
        bData = gatherAxis(bData, a.shape, other.axis.axis, axisIndex(perms[other.space], other.axis, a.shape[other.axis.axis]));
      }
      const rowsA = channelRows(a, axis, n);
      const rowsB = channelRows({ ...a, data: bData }, axis, n);
      addMatmulABt(cost, rowsA, rowsB, n, n, rowsA.length / n);
    }
    return cost;
  };
  const units = permutationUnits(spec);
  const rand = mulberry32(options.seed);
  let iterations = 0;
  for (let it = 0; it < options.maxIterations; it++) {
    iterations = it + 1;
    let improved = false;
    for (const u of randomPermutation(units.length, rand)) {
      options.signal?.throwIfAborted();
      const unit = units[u];
      const costs = unit.spaces.map(costOf);
      const next = assignUnit(unit, costs);
      const gain = unit.spaces.reduce((sum, s, m) => sum + assignedScore(costs[m], next[m]) - assignedScore(costs[m], perms[s]), 0);
      if (gain > MIN_IMPROVEMENT) {
        unit.spaces.forEach((s, m) => { perms[s] = next[m]; });
        improved = true;
      }
    }
    options.onSweep?.(iterations);
    if (!improved) break;
  }
  return { perms, iterations };
}
