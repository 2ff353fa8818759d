/**
 * Exact linear sum assignment (the problem SciPy's `linear_sum_assignment` solves), on the hot path of
 * weight matching (DESIGN.md 4.3): for every permutation space, every sweep, one dense n x n problem.
 *
 * Algorithm: Jonker & Volgenant (1987), "A shortest augmenting path algorithm for dense and sparse linear
 * assignment problems" — the shortest-augmenting-path family SciPy uses (Crouse 2016) — with LAPJV's
 * initialisation, which settles most rows of easy matrices before any path search:
 *   1. column reduction: v[j] = min_i c[i][j]; each column tentatively goes to its cheapest row. When the
 *      rows sit on clearly different levels (sd of the row minima > 0.1 x the mean row spread: real
 *      weight-matching costs, where neuron norms scale whole rows) the rows are reduced first,
 *      v[j] = min_i (c[i][j] - min_k c[i][k]); otherwise a few low rows take most columns, and on the
 *      MNIST MLP's weight-matching matrices phase 4 then does 3-6x more work;
 *   2. reduction transfer: a row that got exactly one column lowers that column's price to its
 *      second-best reduced cost (keeps the assignment, loosens the others);
 *   3. augmenting row reduction (two passes, auction-like with zero epsilon): a free row takes its
 *      cheapest column at a price that ties it with its second-cheapest, evicting the owner. Capped at
 *      6n row scans: on hard (uniform random) matrices it turns into a long price war, and past about
 *      4-8n scans the paths of phase 4 are cheaper (measured at n = 256..4096, see bench/lap.ts);
 *   4. for each row still free, Dijkstra over columns on reduced costs c[i][j] - v[j] - u[i] to the
 *      nearest free column (a free column wins ties), then price update and augmentation.
 * On a noisy permuted copy of one net (bench/lap.ts's `wm`) phase 1 alone usually assigns every row, and
 * the solve is one pass over the matrix. Between two independently trained nets (bench/lap.ts's `real`,
 * and the real MNIST matrices) most rows are left to phases 3-4: these do fewer row scans than SciPy's
 * column visits (0.7-0.8x), which is what keeps the JavaScript within reach of its C++. Phases 1-3 are
 * heuristics: phase 4 alone is exact, they only shorten its work.
 * Invariants (all in exact arithmetic): every assigned column is a cheapest column of its row under the
 * prices v (so reduced costs are >= 0 and 0 on the assignment), v[j] only decreases once a column is
 * assigned, and an unassigned column's price is never touched by phases 3-4. When n < m, phases 1-2 are
 * skipped (they would give unassigned columns a price, which breaks optimality for rectangular problems)
 * and v starts at 0; phases 3-4 are then exactly the rectangular shortest-augmenting-path method.
 *
 * Numbers: Float64 throughout. Float32 input is widened exactly into a copy; maximisation negates the costs,
 * which is exact (a Float64Array input is never copied nor modified: the sign is applied on read).
 *
 * Speed notes (V8): one Float64Array/Int32Array set per call, flat loops over row-major rows, no closures
 * or objects in the loops. The Dijkstra sweeps visit every column in index order and mask settled ones
 * (price -Infinity, distance +Infinity) instead of compacting a list of unsettled columns: the gathers of
 * a compacted list cost more than the extra visits. Tie handling is kept out of the sweeps, where the
 * extra test costs V8 a lot, and looks at the free columns only.
 *
 * Infinite entries, as SciPy: when minimising, +Infinity marks a forbidden pair and -Infinity is rejected;
 * when maximising, -Infinity is forbidden and +Infinity rejected. If no assignment avoids the forbidden
 * pairs, it throws `LapInfeasibleError`. NaN anywhere throws a RangeError naming the entry. Matrices with
 * forbidden pairs skip phases 1-3 (plain shortest augmenting paths from zero prices), so they are slower.
 *
 * Shapes: n <= m assigns every row. n > m is solved on the transpose: every column is assigned and rows
 * left out get -1 in the result (SciPy would return only the assigned pairs).
 */

export interface LapOptions {
  /** maximise the total instead of minimising it */
  maximize?: boolean;
}

/** No assignment avoids the forbidden (infinite) entries. */
export class LapInfeasibleError extends Error {
  constructor() {
    super('linearSumAssignment: cost matrix is infeasible (no assignment avoids the forbidden infinite entries)');
    this.name = 'LapInfeasibleError';
  }
}

/**
 * Solve the assignment problem on a dense row-major n x m cost matrix.
 * Returns colForRow (length n): the column assigned to each row; -1 only for rows left out when n > m.
 */
export function linearSumAssignment(
  cost: Float64Array | Float32Array,
  n: number,
  m: number = n,
  options: LapOptions = {},
): Int32Array {
  if (!Number.isInteger(n) || n < 0 || !Number.isInteger(m) || m < 0) {
    throw new RangeError(`linearSumAssignment: bad shape ${n} x ${m}`);
  }
  if (!(cost instanceof Float64Array) && !(cost instanceof Float32Array)) {
    throw new TypeError('linearSumAssignment: cost must be a Float64Array or Float32Array');
  }
  if (cost.length !== n * m) {
    throw new RangeError(`linearSumAssignment: cost has ${cost.length} entries, a ${n} x ${m} matrix needs ${n * m}`);
  }
  const maximize = options.maximize === true;
  const sign = maximize ? -1 : 1;

  if (n === 0 || m === 0) return new Int32Array(n).fill(-1);

  if (n > m) {
    // Solve the m x n transpose (every column of the original gets a row), then invert.
    const t = new Float64Array(n * m);
    for (let i = 0; i < n; i++) {
      const io = i * m;
      for (let j = 0; j < m; j++) t[j * n + i] = sign * cost[io + j];
    }
    const rowForCol = new Int32Array(m);
    solve(t, 1, m, n, maximize, true, rowForCol);
    const colForRow = new Int32Array(n).fill(-1);
    for (let j = 0; j < m; j++) colForRow[rowForCol[j]] = j;
    return colForRow;
  }

  let c: Float64Array;
  let s: number;
  if (cost instanceof Float64Array) {
    c = cost;
    s = sign;
  } else {
    c = new Float64Array(n * m);
    for (let k = 0; k < c.length; k++) c[k] = sign * cost[k];
    s = 1;
  }
  const colForRow = new Int32Array(n);
  solve(c, s, n, m, maximize, false, colForRow);
  return colForRow;
}

/**
 * Total cost of an assignment (colForRow[i] = column of row i, -1 = unassigned), summed in Float64 with
 * Neumaier compensation. Throws if a column is out of range or used twice.
 */
export function assignmentScore(
  cost: Float64Array | Float32Array,
  n: number,
  m: number,
  colForRow: ArrayLike<number>,
): number {
  if (cost.length !== n * m) {
    throw new RangeError(`assignmentScore: cost has ${cost.length} entries, a ${n} x ${m} matrix needs ${n * m}`);
  }
  if (colForRow.length !== n) throw new RangeError(`assignmentScore: colForRow has ${colForRow.length} entries, expected ${n}`);
  const used = new Uint8Array(m);
  let sum = 0;
  let comp = 0;
  for (let i = 0; i < n; i++) {
    const j = colForRow[i];
    if (j === -1) continue;
    if (!Number.isInteger(j) || j < 0 || j >= m) throw new RangeError(`assignmentScore: row ${i} has column ${j}, not in [0, ${m})`);
    if (used[j]) throw new RangeError(`assignmentScore: column ${j} is assigned twice`);
    used[j] = 1;
    const x = cost[i * m + j];
    const t = sum + x;
    comp += Math.abs(sum) >= Math.abs(x) ? sum - t + x : x - t + sum;
    sum = t;
  }
  return sum + comp;
}

/**
 * Rejects NaN and the unbounded infinity (-Infinity after applying s); returns whether any entry is
 * forbidden (+Infinity after applying s). `maximize` and `transposed` only word the error.
 */
function checkEntries(c: Float64Array, s: number, n: number, m: number, maximize: boolean, transposed = false): boolean {
  let forbidden = false;
  const len = n * m;
  for (let k = 0; k < len; k++) {
    const h = s * c[k];
    // One test for the common case: h - h is 0 for finite h, NaN otherwise.
    if (h - h !== 0) {
      const r = Math.floor(k / m);
      const i = transposed ? k - r * m : r;
      const j = transposed ? r : k - r * m;
      if (h !== h) throw new RangeError(`linearSumAssignment: cost matrix contains NaN at (${i}, ${j})`);
      if (h === -Infinity) {
        throw new RangeError(
          `linearSumAssignment: cost matrix contains ${maximize ? '+Infinity' : '-Infinity'} at (${i}, ${j}); ` +
            `when ${maximize ? 'maximising only -Infinity' : 'minimising only +Infinity'} is allowed (a forbidden pair)`,
        );
      }
      forbidden = true;
    }
  }
  return forbidden;
}

/**
 * The solver proper. Reduced costs are read as s * c[i * m + j] with s = +-1 (exact), n <= m, n >= 1.
 * Writes the column of each row into x. `maximize` and `transposed` only word errors.
 */
function solve(c: Float64Array, s: number, n: number, m: number, maximize: boolean, transposed: boolean, x: Int32Array): void {
  const v = new Float64Array(m); // column prices
  const y = new Int32Array(m).fill(-1); // row assigned to each column
  const free = new Int32Array(n);
  x.fill(-1);

  let numFree = -1;
  if (n === m) {
    // The column reduction also checks the entries on its way; -1 if it met a non-finite one.
    numFree = columnReduction(c, s, n, v, x, y, free);
    if (numFree === 0) return; // every row has a cheapest column of its own: optimal
  }
  let forbidden = false;
  if (numFree < 0) {
    forbidden = checkEntries(c, s, n, m, maximize, transposed); // throws unless only forbidden entries
    v.fill(0);
    y.fill(-1);
    x.fill(-1);
  }
  if (m === 1) {
    // n = 1: the only column (it is finite: a forbidden 1 x 1 is infeasible).
    if (forbidden) throw new LapInfeasibleError();
    x[0] = 0;
    return;
  }
  if (!forbidden) {
    if (numFree < 0) {
      // Rectangular: prices start at 0 (an unassigned column must keep price 0).
      for (let i = 0; i < n; i++) free[i] = i;
      numFree = n;
    }
    numFree = augmentingRowReduction(c, s, n, m, v, x, y, free, numFree);
  } else {
    for (let i = 0; i < n; i++) free[i] = i;
    numFree = n;
  }
  if (numFree > 0) augment(c, s, m, v, x, y, free, numFree);
}

/** Row reduction before column reduction when sd(row minima) exceeds this share of the mean row spread. */
const ROW_LEVEL_SPREAD = 0.1;

/**
 * Phases 1-2 (square only). Returns the number of free rows, listed in free, or -1 (with the state
 * half-built) if an entry is NaN or infinite.
 */
function columnReduction(
  c: Float64Array, s: number, n: number,
  v: Float64Array, x: Int32Array, y: Int32Array, free: Int32Array,
): number {
  const m = n;
  const argmin = new Int32Array(m);
  const matches = new Int32Array(n);
  // One row-major pass: column minima (first row wins ties), row minima u[i] and row sums; h - h is 0
  // exactly when h is finite.
  const u = new Float64Array(n);
  let finite = true;
  let spread = 0; // sum over rows of (row mean - row min)
  for (let j = 0; j < m; j++) v[j] = Infinity;
  for (let i = 0; i < n; i++) {
    const io = i * m;
    let min = Infinity;
    let sum = 0;
    for (let j = 0; j < m; j++) {
      const h = s * c[io + j];
      if (h < min) min = h;
      sum += h;
      if (h < v[j]) {
        v[j] = h;
        argmin[j] = i;
      }
      if (h - h !== 0) finite = false;
    }
    u[i] = min;
    spread += sum / m - min;
  }
  if (!finite) return -1;
  // Rows on very different levels (real weight-matching costs: neuron norms differ, so whole rows of
  // W_a W_b^T are shifted) hand most columns to the few lowest rows and leave the rest free with poor
  // prices. Then take the column minima of the row-reduced costs c[i][j] - u[i] instead (a second pass):
  // on the MNIST MLP's matrices that cuts the shortest-path work 3-6x. Rows on one level (uniform random
  // costs, where it would cost 10-16% more row scans) keep plain column reduction.
  let mean = 0;
  for (let i = 0; i < n; i++) mean += u[i];
  mean /= n;
  let varU = 0;
  for (let i = 0; i < n; i++) varU += (u[i] - mean) * (u[i] - mean);
  if (Math.sqrt(varU / n) > ROW_LEVEL_SPREAD * (spread / n)) {
    for (let j = 0; j < m; j++) {
      v[j] = s * c[j] - u[0];
      argmin[j] = 0;
    }
    for (let i = 1; i < n; i++) {
      const io = i * m;
      const ui = u[i];
      for (let j = 0; j < m; j++) {
        const h = s * c[io + j] - ui;
        if (h < v[j]) {
          v[j] = h;
          argmin[j] = i;
        }
      }
    }
  }
  // Each column goes to its cheapest row; a row claimed several times keeps its cheapest column.
  for (let j = m - 1; j >= 0; j--) {
    const i = argmin[j];
    if (++matches[i] === 1) {
      x[i] = j;
      y[j] = i;
    } else if (v[j] < v[x[i]]) {
      y[x[i]] = -1;
      x[i] = j;
      y[j] = i;
    } else {
      y[j] = -1;
    }
  }
  let numFree = 0;
  for (let i = 0; i < n; i++) if (matches[i] === 0) free[numFree++] = i;
  if (numFree === 0) return 0;
  // Reduction transfer from rows that got exactly one column: lower its price to the row's second best.
  for (let i = 0; i < n; i++) {
    if (matches[i] !== 1) continue;
    const j1 = x[i];
    const io = i * m;
    let min = Infinity;
    for (let j = 0; j < j1; j++) {
      const h = s * c[io + j] - v[j];
      if (h < min) min = h;
    }
    for (let j = j1 + 1; j < m; j++) {
      const h = s * c[io + j] - v[j];
      if (h < min) min = h;
    }
    v[j1] = s * c[io + j1] - min;
  }
  return numFree;
}

/**
 * Phase 3: two passes of augmenting row reduction over the free rows (in place in free).
 * Bounded in total steps (a zero-epsilon auction can trade tiny price cuts for a long time); whatever is
 * still free afterwards is left to the shortest-path phase. Returns the number of free rows.
 */
function augmentingRowReduction(
  c: Float64Array, s: number, n: number, m: number,
  v: Float64Array, x: Int32Array, y: Int32Array, free: Int32Array, numFree: number,
): number {
  let budget = 6 * n;
  passes: for (let pass = 0; pass < 2 && numFree > 0; pass++) {
    const prvNumFree = numFree;
    numFree = 0;
    let k = 0;
    while (k < prvNumFree) {
      if (--budget < 0) break passes; // the recount below picks up every row still free
      const i = free[k++];
      const io = i * m;
      // Cheapest and second-cheapest reduced cost in row i.
      let umin = s * c[io] - v[0];
      let j1 = 0;
      let usub = Infinity;
      let j2 = -1;
      for (let j = 1; j < m; j++) {
        const h = s * c[io + j] - v[j];
        if (h < usub) {
          if (h >= umin) {
            usub = h;
            j2 = j;
          } else {
            usub = umin;
            j2 = j1;
            umin = h;
            j1 = j;
          }
        }
      }
      let i0 = y[j1];
      const strict = umin < usub;
      if (strict) {
        // Cut j1's price until row i is indifferent between j1 and j2; i takes j1.
        v[j1] -= usub - umin;
      } else if (i0 >= 0) {
        // Tie: take the second column instead (possibly free) and do not touch prices.
        j1 = j2;
        i0 = y[j2];
      }
      x[i] = j1;
      y[j1] = i;
      if (i0 >= 0) {
        x[i0] = -1;
        if (strict) free[--k] = i0; // evicted row bids again right away
        else free[numFree++] = i0; // or waits for the next pass
      }
    }
  }
  // Recount (a budget cut leaves free rows anywhere in the list).
  numFree = 0;
  for (let i = 0; i < n; i++) if (x[i] < 0) free[numFree++] = i;
  return numFree;
}

/**
 * Phase 4: a shortest augmenting path (Dijkstra over columns) from each free row.
 * Every relaxation sweeps the whole cost row in order (prefetch-friendly: on large matrices the rows come
 * from main memory) and also finds the next closest column. A settled column is masked rather than
 * removed: its price copy is -Infinity and its distance +Infinity, so it never relaxes or wins.
 */
function augment(
  c: Float64Array, s: number, m: number,
  v: Float64Array, x: Int32Array, y: Int32Array, free: Int32Array, numFree: number,
): void {
  const d = new Float64Array(m); // path length to each unsettled column (+Infinity once settled)
  const vk = new Float64Array(m); // prices, -Infinity once settled
  const pred = new Int32Array(m); // row before each column on its current shortest path
  const settled = new Int32Array(m); // columns settled in this search, in order
  const settledD = new Float64Array(m); // their path lengths
  // The free columns (few once phases 1-3 ran), for the tie check below.
  const freeCols = new Int32Array(m);
  const freePos = new Int32Array(m);
  let numFreeCols = 0;
  for (let j = 0; j < m; j++) {
    if (y[j] < 0) {
      freePos[j] = numFreeCols;
      freeCols[numFreeCols++] = j;
    }
  }

  for (let f = 0; f < numFree; f++) {
    const row = free[f];
    const ro = row * m;
    let best = Infinity;
    let bp = -1;
    let tie = 0;
    for (let j = 0; j < m; j++) {
      const vj = v[j];
      const h = s * c[ro + j] - vj;
      vk[j] = vj;
      d[j] = h;
      pred[j] = row;
      if (h <= best) {
        if (h < best) {
          best = h;
          bp = j;
          tie = 0;
        } else {
          tie = 1;
        }
      }
    }
    let ns = 0;
    let minD = best;
    let end: number;
    for (;;) {
      if (minD === Infinity) throw new LapInfeasibleError(); // every column still reachable is forbidden
      // Among columns tied at the minimum prefer a free one (the first by index: bp is the first column at
      // the minimum): the search ends there. Kept out of the sweeps, where the extra test costs V8 a lot,
      // and done over the free columns only: ties are common in integer data and in real weight-matching
      // costs after row reduction (a row that is the cheapest of several columns has reduced cost 0 on
      // all of them), and a scan over every column made up a third of the path work on the latter.
      if (tie !== 0 && y[bp] >= 0) {
        let jt = m;
        for (let t = 0; t < numFreeCols; t++) {
          const j = freeCols[t];
          if (d[j] === minD && j < jt) jt = j;
        }
        if (jt < m) bp = jt;
      }
      const j1 = bp;
      if (y[j1] < 0) {
        end = j1;
        break;
      }
      settled[ns] = j1;
      settledD[ns++] = minD;
      const vj1 = vk[j1];
      vk[j1] = -Infinity;
      d[j1] = Infinity;
      // Relax through j1's row and find the next closest column.
      const i = y[j1];
      const io = i * m;
      const u1 = s * c[io + j1] - vj1 - minD;
      best = Infinity;
      bp = -1;
      tie = 0;
      for (let j = 0; j < m; j++) {
        const h = s * c[io + j] - vk[j] - u1;
        let dd = d[j];
        if (h < dd) {
          d[j] = h;
          pred[j] = i;
          dd = h;
        }
        if (dd <= best) {
          if (dd < best) {
            best = dd;
            bp = j;
            tie = 0;
          } else {
            tie = 1;
          }
        }
      }
      // Path lengths never decrease in exact arithmetic; keep rounding from making them.
      if (best < minD) {
        best = minD;
        d[bp] = minD;
      }
      minD = best;
    }
    // Price update for the settled columns.
    for (let t = 0; t < ns; t++) {
      const j = settled[t];
      v[j] += settledD[t] - minD;
    }
    // end is no longer free.
    const last = freeCols[--numFreeCols];
    freeCols[freePos[end]] = last;
    freePos[last] = freePos[end];
    // Flip the path.
    let j = end;
    for (;;) {
      const i = pred[j];
      y[j] = i;
      const t = x[i];
      x[i] = j;
      if (i === row) break;
      j = t;
    }
  }
}
