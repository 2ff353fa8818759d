import { MergeError } from '../errors.ts';
import type { BlockConstraint, PermSpec } from '../model/permspec.ts';
import { randomPermutation } from '../random.ts';
import { linearSumAssignment } from './lap.ts';
import type { Perm } from './permute.ts';

/**
 * What a solver assigns in one step: a free space on its own, or the spaces a block constraint ties
 * (attention: the heads, and inside each head the q/k units and the v units).
 */
export interface PermUnit {
  spaces: number[];
  block?: { groups: number; groupSize: number };
}

/**
 * The spec's spaces as units, in space order (a unit stands where its first space is): with no
 * block constraints, exactly one unit per space in index order.
 */
export function permutationUnits(spec: PermSpec): PermUnit[] {
  const blockOf = new Map<number, BlockConstraint>();
  for (const b of spec.blocks) {
    for (const s of b.spaces) {
      if (blockOf.has(s)) throw new MergeError('unsupported', `permutation space ${spec.spaces[s].name} is tied by two block constraints`);
      blockOf.set(s, b);
    }
  }
  const units: PermUnit[] = [];
  spec.spaces.forEach((_, s) => {
    const b = blockOf.get(s);
    if (!b) units.push({ spaces: [s] });
    else if (b.spaces[0] === s) units.push({ spaces: b.spaces, block: { groups: b.groups, groupSize: b.groupSize } });
  });
  return units;
}

/** Sum of cost[i, perm[i]] over a square matrix. */
export function assignedScore(cost: Float64Array, perm: Perm): number {
  const n = perm.length;
  let total = 0;
  for (let i = 0; i < n; i++) total += cost[i * n + perm[i]];
  return total;
}

/**
 * The permutations of one unit maximising the summed scores of its spaces' (n x n, row-major;
 * score[i, j]: unit i of the target against unit j of the source) matrices, exactly. A free space
 * is one assignment. A block unit is solved in two levels: for every pair of blocks (a, b), each
 * space's best assignment inside the pair (a groupSize x groupSize problem), the pair's score being
 * their sum; then the assignment of blocks maximising those scores; each matched pair keeps its
 * inner assignments. Given the blocks' assignment the inner problems are independent, so this is
 * the optimum over every block-structured permutation.
 */
export function assignUnit(unit: PermUnit, costs: readonly Float64Array[]): Perm[] {
  if (!unit.block) return [linearSumAssignment(costs[0], Math.sqrt(costs[0].length), undefined, { maximize: true })];
  const { groups, groupSize: size } = unit.block;
  const n = groups * size;
  const pairScore = new Float64Array(groups * groups);
  const inner: Perm[][] = costs.map(() => []);
  const sub = new Float64Array(size * size);
  costs.forEach((cost, m) => {
    for (let a = 0; a < groups; a++) {
      for (let b = 0; b < groups; b++) {
        for (let i = 0; i < size; i++) for (let j = 0; j < size; j++) sub[i * size + j] = cost[(a * size + i) * n + b * size + j];
        const p = linearSumAssignment(sub, size, size, { maximize: true });
        inner[m][a * groups + b] = p;
        pairScore[a * groups + b] += assignedScore(sub, p);
      }
    }
  });
  const heads = linearSumAssignment(pairScore, groups, groups, { maximize: true });
  return costs.map((_, m) => {
    const perm = new Int32Array(n);
    for (let a = 0; a < groups; a++) {
      const b = heads[a];
      const p = inner[m][a * groups + b];
      for (let i = 0; i < size; i++) perm[a * size + i] = b * size + p[i];
    }
    return perm;
  });
}

/**
 * Random permutations of every space that respect the block constraints (the functional self-test
 * and tests draw these): per block unit one shuffle of the blocks shared by its spaces, and inside
 * each block a shuffle per space.
 */
export function randomSpecPermutations(spec: PermSpec, rand: () => number): Perm[] {
  const perms: Perm[] = spec.spaces.map((s) => randomPermutation(s.size, rand));
  for (const unit of permutationUnits(spec)) {
    if (!unit.block) continue;
    const { groups, groupSize: size } = unit.block;
    const order = randomPermutation(groups, rand);
    for (const s of unit.spaces) {
      const perm = new Int32Array(groups * size);
      for (let a = 0; a < groups; a++) {
        const inside = randomPermutation(size, rand);
        for (let i = 0; i < size; i++) perm[a * size + i] = order[a] * size + inside[i];
      }
      perms[s] = perm;
    }
  }
  return perms;
}
