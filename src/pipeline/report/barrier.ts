import type { Barrier } from '../../contracts/index.ts';

/** Value at alpha, linearly interpolated between grid points (alpha 0.5 is off an even grid). */
function at(alphas: readonly number[], values: readonly number[], alpha: number): number {
  for (let i = 0; i < alphas.length - 1; i++) {
    if (alpha >= alphas[i] && alpha <= alphas[i + 1]) {
      const t = (alpha - alphas[i]) / (alphas[i + 1] - alphas[i]);
      return values[i] + t * (values[i + 1] - values[i]);
    }
  }
  throw new Error(`alpha ${alpha} is outside the sweep`);
}

/**
 * Barriers of a curve over alpha in [0,1] (DESIGN 4.5): `mid` = value at 0.5 above the endpoints'
 * mean (REPAIR's definition), `max` = the largest rise above the chord (Git Re-Basin's). For
 * accuracy, higher is better, so the sign is flipped: chord minus accuracy.
 */
export function barrier(alphas: readonly number[], values: readonly number[], higherIsBetter = false): Barrier {
  const sign = higherIsBetter ? -1 : 1;
  const v0 = values[0];
  const v1 = values[values.length - 1];
  const mid = sign * (at(alphas, values, 0.5) - (v0 + v1) / 2);
  let max = -Infinity;
  let argmax = alphas[0];
  alphas.forEach((a, i) => {
    const rise = sign * (values[i] - ((1 - a) * v0 + a * v1));
    if (rise > max) { max = rise; argmax = a; }
  });
  return { mid, max, argmax };
}

/** 1 - after/before, or null where `before` is not a positive barrier (nothing to reduce). */
export function reduction(before: number, after: number): number | null {
  if (!(before > 0) || !Number.isFinite(after)) return null;
  return 1 - after / before;
}

export function alphaGrid(points: number): number[] {
  return Array.from({ length: points }, (_, i) => Math.round((i / (points - 1)) * 1e12) / 1e12);
}
