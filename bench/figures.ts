import { appendFileSync } from 'node:fs';

/**
 * Each benchmark prints its own table for people, and hands its headline figures to `npm run bench`
 * (bench/all.ts) as JSON lines in the file BASIN_BENCH_FIGURES names, so the one combined table is
 * built from what was measured, never typed in.
 */
export interface Figure { bench: string; case: string; figure: string; value: number; unit: string }

export function figure(bench: string, kase: string, name: string, value: number, unit: string): void {
  const file = process.env.BASIN_BENCH_FIGURES;
  if (file && Number.isFinite(value)) appendFileSync(file, JSON.stringify({ bench, case: kase, figure: name, value, unit } satisfies Figure) + '\n');
}
