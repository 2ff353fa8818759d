/**
 * Exact per-channel statistics over a whole dataset from per-batch moments, in Float64: the
 * law of total variance merges batches, so results do not depend on the batch size.
 */
export class ChannelMoments {
  private count = 0;
  readonly mean: Float64Array;
  /** sum of squared deviations from the running mean (Chan et al.'s parallel update) */
  private m2: Float64Array;
  constructor(readonly channels: number) {
    this.mean = new Float64Array(channels);
    this.m2 = new Float64Array(channels);
  }
  /** add one batch given its per-channel mean and (population) variance over `n` values */
  addBatch(mean: ArrayLike<number>, variance: ArrayLike<number>, n: number): void {
    if (n <= 0) return;
    const total = this.count + n;
    for (let c = 0; c < this.channels; c++) {
      const delta = mean[c] - this.mean[c];
      this.mean[c] += (delta * n) / total;
      this.m2[c] += variance[c] * n + (delta * delta * this.count * n) / total;
    }
    this.count = total;
  }
  /**
   * add one batch given as `groups` groups of `size` values each (a sample's positions): each
   * group's per-channel mean and, unless every group is a single value, its (population) variance,
   * row-major [groups, channels]; combined in Float64 by the law of total variance
   */
  addGroups(means: ArrayLike<number>, variances: ArrayLike<number> | undefined, groups: number, size: number): void {
    const C = this.channels;
    const mean = new Float64Array(C);
    const m2 = new Float64Array(C);
    for (let g = 0; g < groups; g++) for (let c = 0; c < C; c++) mean[c] += means[g * C + c];
    for (let c = 0; c < C; c++) mean[c] /= groups;
    for (let g = 0; g < groups; g++) {
      for (let c = 0; c < C; c++) {
        const d = means[g * C + c] - mean[c];
        m2[c] += d * d + (variances ? variances[g * C + c] : 0);
      }
    }
    this.addBatch(mean, m2.map((v) => v / groups), groups * size);
  }
  get n(): number { return this.count; }
  variance(): Float64Array { return this.m2.map((v) => v / Math.max(this.count, 1)); }
  std(): Float64Array { return this.variance().map(Math.sqrt); }
}

/**
 * Pearson correlation between two models' channels, accumulated over batches:
 * corr[i,j] = cov(a_i, b_j) / (std a_i * std b_j + eps), NaN (dead units) set to 0.
 */
export class CrossCorrelation {
  private n = 0;
  private sa: Float64Array;
  private sb: Float64Array;
  private saa: Float64Array;
  private sbb: Float64Array;
  private sab: Float64Array;
  constructor(readonly channels: number) {
    this.sa = new Float64Array(channels);
    this.sb = new Float64Array(channels);
    this.saa = new Float64Array(channels);
    this.sbb = new Float64Array(channels);
    this.sab = new Float64Array(channels * channels);
  }
  /** sums over `n` rows of one batch: per-channel sums, sums of squares and the [C,C] product a^T b */
  addBatch(n: number, sa: ArrayLike<number>, sb: ArrayLike<number>, saa: ArrayLike<number>, sbb: ArrayLike<number>, sab: ArrayLike<number>): void {
    this.n += n;
    for (let c = 0; c < this.channels; c++) { this.sa[c] += sa[c]; this.sb[c] += sb[c]; this.saa[c] += saa[c]; this.sbb[c] += sbb[c]; }
    for (let k = 0; k < this.sab.length; k++) this.sab[k] += sab[k];
  }
  correlation(eps = 1e-4): Float64Array {
    const C = this.channels;
    const n = Math.max(this.n, 1);
    const ma = this.sa.map((v) => v / n);
    const mb = this.sb.map((v) => v / n);
    const sda = this.saa.map((v, c) => Math.sqrt(Math.max(v / n - ma[c] * ma[c], 0)));
    const sdb = this.sbb.map((v, c) => Math.sqrt(Math.max(v / n - mb[c] * mb[c], 0)));
    const out = new Float64Array(C * C);
    for (let i = 0; i < C; i++) {
      for (let j = 0; j < C; j++) {
        const v = (this.sab[i * C + j] / n - ma[i] * mb[j]) / (sda[i] * sdb[j] + eps);
        out[i * C + j] = Number.isFinite(v) ? v : 0;
      }
    }
    return out;
  }
}
