/**
 * Assignment-solver timings: `npx tsx bench/lap.ts [--sizes 256,512,...] [--kinds uniform,wm] [--reps N] [--write DIR]`.
 *
 * Three kinds of dense n x n matrices, generated from a seeded PRNG so every run solves the same problems:
 *   uniform  costs uniform in [0, 1), minimised (the classic hard case);
 *   wm       weight-matching-like: W_a · W_b^T, maximised, where W_a is n x 512 of N(0, 1) and W_b is a
 *            row-permuted copy of W_a plus N(0, 1) noise (a permuted copy of one net: easy, the optimum is
 *            every row's maximum);
 *   real     real-like weight matching between two independently trained nets (see realLikeCosts): a
 *            shared low-rank part, a weak correspondence and uneven neuron norms. Its statistics match the
 *            cost matrices of a full weight-matching run on examples/mnist-mlp3x512, and like those it is
 *            the hard case for LAPJV's initialisation.
 * Prints the median wall time of several solves (fewer at large n) and the optimal total. Figures only:
 * nothing here asserts a time.
 *
 * --write DIR also saves each matrix as DIR/<kind>_<n>.f64 (raw little-endian Float64, row-major) and the
 * results as DIR/results.json, for a side-by-side run of SciPy on the same matrices: bench/lap-scipy.py.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { assignmentScore, linearSumAssignment } from '../src/pipeline/align/lap.ts';
import { gaussian, mulberry32, randomPermutation } from '../src/pipeline/random.ts';
import { figure } from './figures.ts';

/** cost[i][j] = <a_i, b_j> for row-major a, b [n, width] (width a multiple of 4): both rows contiguous. */
function rowDots(a: Float64Array | Float32Array, b: Float64Array | Float32Array, n: number, width: number): Float64Array {
  const cost = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const ao = i * width;
    for (let j = 0; j < n; j++) {
      const bo = j * width;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (let q = 0; q < width; q += 4) {
        s0 += a[ao + q] * b[bo + q];
        s1 += a[ao + q + 1] * b[bo + q + 1];
        s2 += a[ao + q + 2] * b[bo + q + 2];
        s3 += a[ao + q + 3] * b[bo + q + 3];
      }
      cost[i * n + j] = s0 + s1 + s2 + s3;
    }
  }
  return cost;
}

export const WM_WIDTH = 512;
export const REAL_WIDTH = 64;
export const REAL_RHO = 0.8;


/** n x n costs uniform in [0, 1). */
export function uniformCosts(n: number, seed: number): Float64Array {
  const rand = mulberry32(seed);
  const c = new Float64Array(n * n);
  for (let k = 0; k < c.length; k++) c[k] = rand();
  return c;
}

/** W_a · W_b^T (n x n) with W_b[sigma[i]] = W_a[i] + noise; returns the matrix and sigma. */
export function weightMatchingCosts(n: number, seed: number, width = WM_WIDTH, noise = 1): { cost: Float64Array; sigma: Int32Array } {
  const rand = mulberry32(seed);
  const gauss = gaussian(rand);
  const a = new Float64Array(n * width);
  for (let k = 0; k < a.length; k++) a[k] = gauss();
  const sigma = randomPermutation(n, rand);
  const b = new Float64Array(n * width);
  for (let i = 0; i < n; i++) {
    const ao = i * width;
    const bo = sigma[i] * width;
    for (let k = 0; k < width; k++) b[bo + k] = a[ao + k] + noise * gauss();
  }
  // cost[i][j] = <a_i, b_j>: both rows contiguous
  const cost = rowDots(a, b, n, width);
  return { cost, sigma };
}

/**
 * Real-like weight-matching costs between two *independently trained* nets: C = A · B^T (n x n, maximised)
 * with rows (neurons) in a k-dimensional feature space,
 *   a_i = g_i (sum_r t_ir lambda_r s_r + rho z_sigma(i) + e_i),   b_j = h_j (sum_r t'_jr lambda_r s_r + rho z_j + e'_j),
 * where s_r (r < RANK) are directions shared by every neuron of both nets (lambda = 3, 2, 1.5, 1: the low-rank
 * structure real layers have), z_j is the feature neuron j of B shares with neuron sigma^-1(j) of A (a weak
 * correspondence, rho), e, e' are independent N(0, I_k) parts, and g, h are log-normal neuron gains
 * (sd 0.3). k = 64 and rho = 0.8 were calibrated on the 51 cost matrices of a full weight-matching run on
 * examples/mnist-mlp3x512 (n = 512): there the optimal entry of a row is only 2.5-2.9 sd above the row
 * mean and the row's maximum in just 20-30% of rows (median rank 2-4), the top singular value carries
 * 36-57% of the Frobenius norm and row norms vary by 15-30%. This generator at n = 512 gives 2.6 sd, 22%,
 * rank 4, 48% and 34%. `wm` has none of that (the optimum is every row's maximum, 13 sd out), which is why
 * it is easy and these are not: rows on different levels and many near-equal candidates per row leave
 * most rows free after column reduction and make the augmenting paths long.
 */
export function realLikeCosts(n: number, seed: number, k = REAL_WIDTH, rho = REAL_RHO): Float64Array {
  const rand = mulberry32(seed);
  const gauss = gaussian(rand);
  const lambda = [3, 2, 1.5, 1];
  const shared = new Float64Array(lambda.length * k);
  for (let q = 0; q < shared.length; q++) shared[q] = gauss() / Math.sqrt(k);
  const z = new Float64Array(n * k);
  for (let q = 0; q < z.length; q++) z[q] = gauss();
  const sigma = randomPermutation(n, rand);
  const net = (perm: Int32Array | null): Float64Array => {
    const w = new Float64Array(n * k);
    for (let i = 0; i < n; i++) {
      const wo = i * k;
      const zo = (perm ? perm[i] : i) * k;
      for (let q = 0; q < k; q++) w[wo + q] = rho * z[zo + q] + gauss();
      for (let r = 0; r < lambda.length; r++) {
        const t = lambda[r] * gauss();
        for (let q = 0; q < k; q++) w[wo + q] += t * shared[r * k + q];
      }
      const g = Math.exp(0.3 * gauss());
      for (let q = 0; q < k; q++) w[wo + q] *= g;
    }
    return w;
  };
  const a = net(sigma);
  const b = net(null);
  const cost = rowDots(a, b, n, k);
  return cost;
}

export const KINDS = ['uniform', 'wm', 'real'] as const;
export type Kind = (typeof KINDS)[number];

/** The benchmark's instance of a kind at size n (seed derived from n, so sizes are independent). */
export function benchInstance(kind: Kind, n: number): { cost: Float64Array; maximize: boolean } {
  if (kind === 'uniform') return { cost: uniformCosts(n, 0x5eed0000 + n), maximize: false };
  if (kind === 'real') return { cost: realLikeCosts(n, 0x7ea10000 + n), maximize: true };
  return { cost: weightMatchingCosts(n, 0x3a7c0000 + n).cost, maximize: true };
}

export function defaultReps(n: number): number {
  return n <= 512 ? 9 : n <= 1024 ? 7 : n <= 2048 ? 5 : 3;
}

function median(xs: number[]): number {
  const s = [...xs].sort((p, q) => p - q);
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function main(): void {
  const sizes = (arg('sizes') ?? '256,512,1024,2048,4096').split(',').map(Number);
  const kinds = (arg('kinds') ?? KINDS.join(',')).split(',') as Kind[];
  const repsArg = arg('reps');
  const writeDir = arg('write');
  if (writeDir) mkdirSync(writeDir, { recursive: true });
  const results: { kind: Kind; n: number; maximize: boolean; file: string; times: number[]; median: number; total: number }[] = [];
  for (const k of kinds) if (!KINDS.includes(k)) throw new Error(`unknown kind ${k}; use ${KINDS.join(',')}`);

  // Warm the JIT on small problems of every kind so the first timed size is not penalised.
  for (let r = 0; r < 20; r++) {
    linearSumAssignment(uniformCosts(128, r), 128, 128);
    linearSumAssignment(weightMatchingCosts(128, r, 64).cost, 128, 128, { maximize: true });
    linearSumAssignment(realLikeCosts(128, r), 128, 128, { maximize: true });
  }

  console.log(`linearSumAssignment, median wall time per solve (node ${process.version})`);
  console.log(`${'kind'.padEnd(8)} ${'n'.padStart(5)} ${'reps'.padStart(4)} ${'median s'.padStart(9)} ${'min s'.padStart(8)}  optimal total`);
  for (const kind of kinds) {
    for (const n of sizes) {
      const { cost, maximize } = benchInstance(kind, n);
      const file = `${kind}_${n}.f64`;
      if (writeDir) writeFileSync(join(writeDir, file), new Uint8Array(cost.buffer, cost.byteOffset, cost.byteLength));
      const reps = repsArg ? Number(repsArg) : defaultReps(n);
      const times: number[] = [];
      let total = NaN;
      for (let r = 0; r < reps; r++) {
        const t0 = process.hrtime.bigint();
        const x = linearSumAssignment(cost, n, n, { maximize });
        times.push(Number(process.hrtime.bigint() - t0) / 1e9);
        total = assignmentScore(cost, n, n, x);
      }
      results.push({ kind, n, maximize, file, times, median: median(times), total });
      figure('solver', `${kind} n=${n}`, 'median solve', median(times), 's');
      console.log(
        `${kind.padEnd(8)} ${String(n).padStart(5)} ${String(reps).padStart(4)} ${median(times).toFixed(4).padStart(9)} ` +
          `${Math.min(...times).toFixed(4).padStart(8)}  ${total.toPrecision(15)}`,
      );
    }
  }
  if (writeDir) {
    writeFileSync(join(writeDir, 'results.json'), JSON.stringify({ node: process.version, results }, null, 1));
    console.log(`matrices and results.json written to ${writeDir}`);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
