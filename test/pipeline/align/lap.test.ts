import { describe, expect, it } from 'vitest';
import { assignmentScore, LapInfeasibleError, linearSumAssignment } from '../../../src/pipeline/align/lap.ts';
import { mulberry32, randomPermutation } from '../../../src/pipeline/random.ts';

const rng = mulberry32;
const shuffled = randomPermutation;

/** Best total over every injective row -> column map (n <= m), by exhaustive search. */
function bruteForce(c: ArrayLike<number>, n: number, m: number, maximize: boolean): number {
  let best = maximize ? -Infinity : Infinity;
  const used = new Uint8Array(m);
  const rec = (i: number, acc: number): void => {
    if (i === n) {
      if (maximize ? acc > best : acc < best) best = acc;
      return;
    }
    for (let j = 0; j < m; j++) {
      if (used[j]) continue;
      used[j] = 1;
      rec(i + 1, acc + c[i * m + j]);
      used[j] = 0;
    }
  };
  rec(0, 0);
  return best;
}

/**
 * Independent reference for larger sizes: the textbook O(n^2 m) Hungarian method with row/column
 * potentials (minimisation, n <= m). Returns the optimal total.
 */
function hungarianTotal(c: ArrayLike<number>, n: number, m: number): number {
  const u = new Float64Array(n + 1);
  const v = new Float64Array(m + 1);
  const p = new Int32Array(m + 1); // p[j]: row (1-based) matched to column j, 0 = none
  const way = new Int32Array(m + 1);
  for (let i = 1; i <= n; i++) {
    p[0] = i;
    let j0 = 0;
    const minv = new Float64Array(m + 1).fill(Infinity);
    const used = new Uint8Array(m + 1);
    do {
      used[j0] = 1;
      const i0 = p[j0];
      let delta = Infinity;
      let j1 = 0;
      for (let j = 1; j <= m; j++) {
        if (used[j]) continue;
        const cur = c[(i0 - 1) * m + (j - 1)] - u[i0] - v[j];
        if (cur < minv[j]) {
          minv[j] = cur;
          way[j] = j0;
        }
        if (minv[j] < delta) {
          delta = minv[j];
          j1 = j;
        }
      }
      for (let j = 0; j <= m; j++) {
        if (used[j]) {
          u[p[j]] += delta;
          v[j] -= delta;
        } else {
          minv[j] -= delta;
        }
      }
      j0 = j1;
    } while (p[j0] !== 0);
    do {
      const j1 = way[j0];
      p[j0] = p[j1];
      j0 = j1;
    } while (j0 !== 0);
  }
  let total = 0;
  for (let j = 1; j <= m; j++) if (p[j] !== 0) total += c[(p[j] - 1) * m + (j - 1)];
  return total;
}

/** Every row gets a distinct column in range (n <= m). */
function expectInjective(x: Int32Array, n: number, m: number): void {
  expect(x).toBeInstanceOf(Int32Array);
  expect(x.length).toBe(n);
  const seen = new Set<number>();
  for (let i = 0; i < n; i++) {
    expect(Number.isInteger(x[i]) && x[i] >= 0 && x[i] < m).toBe(true);
    seen.add(x[i]);
  }
  expect(seen.size).toBe(n);
}

function randomMatrix(n: number, m: number, rand: () => number, kind: 'float' | 'int' | 'wide'): Float64Array {
  const c = new Float64Array(n * m);
  for (let k = 0; k < c.length; k++) {
    c[k] = kind === 'float' ? rand() : kind === 'int' ? Math.floor(rand() * 4) : Math.round((rand() - 0.5) * 2000);
  }
  return c;
}

const close = (a: number, b: number): boolean => Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b));

describe('linearSumAssignment: exhaustive checks on small matrices', () => {
  it('square n = 1..7: optimal total for minimise and maximise, float and integer (tied) costs', () => {
    const rand = rng(1);
    for (let n = 1; n <= 7; n++) {
      const trials = n <= 5 ? 200 : n === 6 ? 60 : 25;
      for (let t = 0; t < trials; t++) {
        for (const kind of ['float', 'int', 'wide'] as const) {
          const c = randomMatrix(n, n, rand, kind);
          for (const maximize of [false, true]) {
            const x = linearSumAssignment(c, n, n, { maximize });
            expectInjective(x, n, n);
            const got = assignmentScore(c, n, n, x);
            const want = bruteForce(c, n, n, maximize);
            if (!close(got, want)) throw new Error(`n=${n} ${kind} maximize=${maximize}: ${got} vs ${want} on [${c}]`);
            // Integer costs are exact in Float64 all the way through.
            if (kind !== 'float') expect(got).toBe(want);
          }
        }
      }
    }
  });

  it('rectangular n < m: optimal over injective maps, every row assigned', () => {
    const rand = rng(2);
    for (let n = 1; n <= 5; n++) {
      for (let m = n + 1; m <= 7; m++) {
        for (let t = 0; t < 30; t++) {
          for (const kind of ['float', 'int'] as const) {
            const c = randomMatrix(n, m, rand, kind);
            for (const maximize of [false, true]) {
              const x = linearSumAssignment(c, n, m, { maximize });
              expectInjective(x, n, m);
              const got = assignmentScore(c, n, m, x);
              const want = bruteForce(c, n, m, maximize);
              if (!close(got, want)) throw new Error(`${n}x${m} ${kind} maximize=${maximize}: ${got} vs ${want}`);
            }
          }
        }
      }
    }
  });

  it('rectangular n > m: solved on the transpose, every column used once, other rows -1', () => {
    const rand = rng(3);
    for (let m = 1; m <= 5; m++) {
      for (let n = m + 1; n <= 7; n++) {
        for (let t = 0; t < 20; t++) {
          const c = randomMatrix(n, m, rand, t % 2 ? 'int' : 'float');
          // the transpose as a row-major m x n matrix, for the brute force
          const ct = new Float64Array(m * n);
          for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) ct[j * n + i] = c[i * m + j];
          for (const maximize of [false, true]) {
            const x = linearSumAssignment(c, n, m, { maximize });
            expect(x.length).toBe(n);
            const cols = Array.from(x).filter((j) => j >= 0).sort((a, b) => a - b);
            expect(cols).toEqual(Array.from({ length: m }, (_, j) => j));
            expect(Array.from(x).filter((j) => j === -1).length).toBe(n - m);
            const got = assignmentScore(c, n, m, x);
            expect(close(got, bruteForce(ct, m, n, maximize))).toBe(true);
          }
        }
      }
    }
  });

  it('Float32Array input gives the same optimum as its exact Float64 widening', () => {
    const rand = rng(4);
    for (let t = 0; t < 100; t++) {
      const n = 1 + (t % 7);
      const c32 = new Float32Array(n * n);
      for (let k = 0; k < c32.length; k++) c32[k] = rand() * 10 - 5;
      const c64 = Float64Array.from(c32);
      for (const maximize of [false, true]) {
        const x = linearSumAssignment(c32, n, n, { maximize });
        expectInjective(x, n, n);
        expect(close(assignmentScore(c32, n, n, x), bruteForce(c64, n, n, maximize))).toBe(true);
      }
    }
  });
});

describe('linearSumAssignment: larger instances', () => {
  it('agrees with a textbook Hungarian reference at n = 20..150 (float, integer ties, rectangular)', () => {
    const rand = rng(5);
    for (const [n, m] of [[20, 20], [50, 50], [64, 80], [100, 100], [150, 150], [90, 150]] as const) {
      for (const kind of ['float', 'int', 'wide'] as const) {
        const c = randomMatrix(n, m, rand, kind);
        for (const maximize of [false, true]) {
          const x = linearSumAssignment(c, n, m, { maximize });
          expectInjective(x, n, m);
          const got = assignmentScore(c, n, m, x);
          const neg = maximize ? c.map((z) => -z) : c;
          const want = (maximize ? -1 : 1) * hungarianTotal(neg, n, m);
          if (!close(got, want)) throw new Error(`${n}x${m} ${kind} maximize=${maximize}: ${got} vs ${want}`);
          if (kind !== 'float') expect(got).toBe(want);
        }
      }
    }
  });

  for (const n of [200, 1000]) {
    it(`planted optimum at n = ${n} is recovered exactly (maximise and minimise)`, () => {
      const rand = rng(1000 + n);
      const sigma = shuffled(n, rand);
      // Maximise: noise in [0, 1), planted entries 10. An assignment that misses k >= 1 planted entries
      // totals less than 10 (n - k) + k < 10 n, so sigma is the unique optimum.
      const c = new Float64Array(n * n);
      for (let k = 0; k < c.length; k++) c[k] = rand();
      for (let i = 0; i < n; i++) c[i * n + sigma[i]] = 10;
      const x = linearSumAssignment(c, n, n, { maximize: true });
      expect(Array.from(x)).toEqual(Array.from(sigma));
      // Minimise the mirror image (noise in [1, 2), planted 0), given as Float32.
      const d = new Float32Array(n * n);
      for (let k = 0; k < d.length; k++) d[k] = 1 + rand();
      for (let i = 0; i < n; i++) d[i * n + sigma[i]] = 0;
      expect(Array.from(linearSumAssignment(d, n, n))).toEqual(Array.from(sigma));
    });
  }

  it('planted optimum hidden in weight-matching-like costs (W_a W_b^T, W_b = permuted W_a + noise)', () => {
    const n = 300;
    const width = 64;
    const rand = rng(7);
    const gauss = (): number => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
    const a = Float64Array.from({ length: n * width }, gauss);
    const sigma = shuffled(n, rand);
    const b = new Float64Array(n * width);
    for (let i = 0; i < n; i++) for (let k = 0; k < width; k++) b[sigma[i] * width + k] = a[i * width + k] + 0.1 * gauss();
    const c = new Float64Array(n * n);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let k = 0; k < width; k++) s += a[i * width + k] * b[j * width + k];
        c[i * n + j] = s;
      }
    }
    const x = linearSumAssignment(c, n, n, { maximize: true });
    expect(Array.from(x)).toEqual(Array.from(sigma));
  });

  it('real-like weight-matching costs (two independent nets: shared low-rank part, weak correspondence, uneven neuron norms) match the Hungarian total', () => {
    // The structure of bench/lap.ts's "real" kind, the case where column reduction alone leaves most rows
    // free and the augmenting paths are long: C = A B^T with a_i = g_i (sum_r t_ir l_r s_r + rho z_sigma(i) + e_i).
    const rand = rng(11);
    const gauss = (): number => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
    for (const [n, k, rho] of [[120, 16, 0.8], [250, 64, 0.8], [300, 32, 0.5], [200, 64, 1.2]] as const) {
      const lambda = [3, 2, 1.5, 1];
      const shared = Float64Array.from({ length: lambda.length * k }, () => gauss() / Math.sqrt(k));
      const z = Float64Array.from({ length: n * k }, gauss);
      const sigma = shuffled(n, rand);
      const net = (perm: Int32Array | null): Float64Array => {
        const w = new Float64Array(n * k);
        for (let i = 0; i < n; i++) {
          const zo = (perm ? perm[i] : i) * k;
          for (let q = 0; q < k; q++) w[i * k + q] = rho * z[zo + q] + gauss();
          for (let r = 0; r < lambda.length; r++) {
            const t = lambda[r] * gauss();
            for (let q = 0; q < k; q++) w[i * k + q] += t * shared[r * k + q];
          }
          const g = Math.exp(0.3 * gauss());
          for (let q = 0; q < k; q++) w[i * k + q] *= g;
        }
        return w;
      };
      const a = net(sigma);
      const b = net(null);
      const c = new Float64Array(n * n);
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < n; j++) {
          let s = 0;
          for (let q = 0; q < k; q++) s += a[i * k + q] * b[j * k + q];
          c[i * n + j] = s;
        }
      }
      for (const maximize of [true, false]) {
        const x = linearSumAssignment(c, n, n, { maximize });
        expectInjective(x, n, n);
        const got = assignmentScore(c, n, n, x);
        const want = maximize ? -hungarianTotal(c.map((h) => -h), n, n) : hungarianTotal(c, n, n);
        if (!close(got, want)) throw new Error(`real-like n=${n} k=${k} rho=${rho} maximize=${maximize}: ${got} vs ${want}`);
      }
      // Float32 input: the same optimum as its exact Float64 widening.
      const f = Float32Array.from(c);
      const xf = linearSumAssignment(f, n, n, { maximize: true });
      const wf = Float64Array.from(f);
      expect(close(assignmentScore(wf, n, n, xf), -hungarianTotal(wf.map((h) => -h), n, n))).toBe(true);
    }
  });

  it('degenerate matrices (all equal, rank one, repeated rows) give a permutation with the optimal total', () => {
    const n = 300;
    const cases: [string, Float64Array, number][] = [];
    cases.push(['constant', new Float64Array(n * n).fill(3), 3 * n]);
    const r = rng(8);
    const p = Float64Array.from({ length: n }, () => Math.floor(r() * 10));
    const q = Float64Array.from({ length: n }, () => Math.floor(r() * 10));
    // c[i][j] = p[i] + q[j]: every permutation totals sum(p) + sum(q)
    const add = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) add[i * n + j] = p[i] + q[j];
    cases.push(['additive', add, p.reduce((s, z) => s + z, 0) + q.reduce((s, z) => s + z, 0)]);
    // identical rows: c[i][j] = q[j]
    const rows = new Float64Array(n * n);
    for (let i = 0; i < n; i++) rows.set(q, i * n);
    cases.push(['identical rows', rows, q.reduce((s, z) => s + z, 0)]);
    for (const [name, c, total] of cases) {
      for (const maximize of [false, true]) {
        const x = linearSumAssignment(c, n, n, { maximize });
        expectInjective(x, n, n);
        expect(assignmentScore(c, n, n, x), name).toBe(total);
      }
    }
  });
});

describe('linearSumAssignment: infinite entries (forbidden pairs, as SciPy)', () => {
  it('+Infinity (minimise) / -Infinity (maximise) are avoided; optimum matches brute force', () => {
    const rand = rng(9);
    let feasible = 0;
    let infeasible = 0;
    for (let t = 0; t < 400; t++) {
      const n = 1 + (t % 6);
      const m = n + (t % 3 === 0 ? 1 : 0);
      const c = randomMatrix(n, m, rand, t % 2 ? 'int' : 'float');
      for (let k = 0; k < c.length; k++) if (rand() < 0.35) c[k] = Infinity;
      for (const maximize of [false, true]) {
        const cm = maximize ? c.map((z) => -z) : c;
        const want = bruteForce(cm, n, m, maximize);
        if (Number.isFinite(want)) {
          feasible++;
          const x = linearSumAssignment(cm, n, m, { maximize });
          expectInjective(x, n, m);
          expect(close(assignmentScore(cm, n, m, x), want)).toBe(true);
        } else {
          infeasible++;
          expect(() => linearSumAssignment(cm, n, m, { maximize })).toThrow(LapInfeasibleError);
        }
      }
    }
    expect(feasible).toBeGreaterThan(100);
    expect(infeasible).toBeGreaterThan(20);
  });

  it('infeasible by Hall: two rows that can only use the same column', () => {
    const I = Infinity;
    const c = Float64Array.from([0, I, I, 1, I, I, 2, 3, 4]);
    expect(() => linearSumAssignment(c, 3, 3)).toThrow(LapInfeasibleError);
    expect(() => linearSumAssignment(c, 3, 3)).toThrow(/infeasible/);
  });

  it('a forbidden pair in a larger matrix is never used', () => {
    const n = 100;
    const rand = rng(10);
    const c = randomMatrix(n, n, rand, 'float');
    const plain = linearSumAssignment(c, n, n);
    for (let i = 0; i < n; i++) c[i * n + plain[i]] = Infinity; // forbid the old optimum
    const x = linearSumAssignment(c, n, n);
    expectInjective(x, n, n);
    for (let i = 0; i < n; i++) expect(x[i]).not.toBe(plain[i]);
    expect(close(assignmentScore(c, n, n, x), hungarianTotal(c.map((z) => (z === Infinity ? 1e6 : z)), n, n))).toBe(true);
  });
});

describe('linearSumAssignment: input validation', () => {
  it('rejects NaN anywhere, naming the entry', () => {
    for (const [n, m] of [[3, 3], [2, 4], [4, 2]] as const) {
      for (const Arr of [Float64Array, Float32Array]) {
        for (const maximize of [false, true]) {
          const c = new Arr(n * m).fill(1);
          c[1 * m + 1] = NaN;
          expect(() => linearSumAssignment(c, n, m, { maximize })).toThrow(/NaN at \(1, 1\)/);
        }
      }
    }
  });

  it('rejects the unbounded infinity: -Infinity when minimising, +Infinity when maximising', () => {
    const c = Float64Array.from([1, 2, -Infinity, 4]);
    expect(() => linearSumAssignment(c, 2, 2)).toThrow(/-Infinity at \(1, 0\)/);
    expect(linearSumAssignment(c, 2, 2, { maximize: true })).toEqual(Int32Array.from([0, 1]));
    const d = Float32Array.from([1, Infinity, 3, 4, 5, 6]);
    expect(() => linearSumAssignment(d, 2, 3, { maximize: true })).toThrow(/\+Infinity at \(0, 1\)/);
    expect(() => linearSumAssignment(d, 3, 2, { maximize: true })).toThrow(/\+Infinity at \(0, 1\)/);
  });

  it('rejects a cost array of the wrong length or a bad shape', () => {
    expect(() => linearSumAssignment(new Float64Array(5), 2, 3)).toThrow(RangeError);
    expect(() => linearSumAssignment(new Float64Array(4), 2.5 as number, 2)).toThrow(RangeError);
    expect(() => linearSumAssignment(new Float64Array(4), -2, -2)).toThrow(RangeError);
  });

  it('handles empty and 1 x 1 problems; m defaults to n', () => {
    expect(linearSumAssignment(new Float64Array(0), 0)).toEqual(new Int32Array(0));
    expect(linearSumAssignment(new Float64Array(0), 3, 0)).toEqual(Int32Array.from([-1, -1, -1]));
    expect(linearSumAssignment(Float64Array.from([7]), 1)).toEqual(Int32Array.from([0]));
    expect(linearSumAssignment(Float64Array.from([3, 1, 2, 5]), 2)).toEqual(Int32Array.from([1, 0]));
    expect(linearSumAssignment(Float64Array.from([3, 1, 2, 5]), 2, 2, { maximize: true })).toEqual(Int32Array.from([0, 1]));
  });

  it('does not modify the cost matrix', () => {
    const rand = rng(11);
    const c = randomMatrix(50, 60, rand, 'float');
    const copy = c.slice();
    linearSumAssignment(c, 50, 60, { maximize: true });
    linearSumAssignment(c, 60, 50);
    expect(c).toEqual(copy);
  });
});

describe('assignmentScore', () => {
  it('sums the chosen entries, skipping -1, and rejects invalid assignments', () => {
    const c = Float64Array.from([1, 2, 3, 4, 5, 6]); // 3 x 2
    expect(assignmentScore(c, 3, 2, [1, -1, 0])).toBe(2 + 5);
    expect(() => assignmentScore(c, 3, 2, [0, 0, -1])).toThrow(/twice/);
    expect(() => assignmentScore(c, 3, 2, [0, 2, -1])).toThrow(RangeError);
    expect(() => assignmentScore(c, 3, 2, [0, 1])).toThrow(RangeError);
  });
});
