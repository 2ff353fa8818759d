import { describe, expect, it } from 'vitest';
import type { Report, VariantReport } from '../../../src/contracts/index.ts';
import { renderReportHtml } from '../../../src/pipeline/report/html.ts';
import { niceTicks, renderReportSvg, VARIANT_STYLE } from '../../../src/pipeline/report/svg.ts';
import { barrier } from '../../../src/pipeline/report/barrier.ts';

const alphas = [0, 0.25, 0.5, 0.75, 1];
const variant = (loss: number[], accuracy: number[], method?: 'repair' | 'reset'): VariantReport => ({
  loss, accuracy, barrier: { loss: barrier(alphas, loss), accuracy: barrier(alphas, accuracy, true) }, ...(method ? { method } : {}),
});
/** Shaped like a RESET merge: the repaired endpoints differ from the others (so its chord does). */
const report: Report = {
  alphas,
  variants: {
    naive: variant([0.368, 0.9, 1.3, 0.8, 0.4], [0.86, 0.5, 0.2, 0.55, 0.87]),
    aligned: variant([0.368, 0.45, 0.55, 0.46, 0.4], [0.86, 0.84, 0.83, 0.845, 0.87]),
    repaired: variant([0.33, 0.37, 0.39, 0.36, 0.35], [0.875, 0.86, 0.855, 0.865, 0.88], 'reset'),
  },
  reduction: { alignment: 0.8, repair: 0.6 },
  alignment: { method: 'weight', strategy: 'first', iterations: 4, permutations: [{ name: 'P0', size: 8, axes: ['layers.0.weight:0', 'layers.<b>.weight:1'] }], identityFraction: [0.125] },
  timings: { load: 1, align: 1, repair: 1, sweep: 1, total: 4 },
  backend: 'wasm',
  merged: { alpha: 0.5, variant: 'repaired' },
  models: 2,
  modelNames: ['seed1.safetensors', 'seed2.safetensors'],
  evaluation: { samples: 10000, calibrationSamples: 5000, dataset: 'fashion-mnist test', calibrationDataset: 'fashion-mnist train' },
  unusedTensors: [],
  warnings: ['a <warning> & more'],
  siteIssues: [],
};

/** The plot's panels in order (loss, accuracy, then the zoomed row if any), each with its markup. */
const panels = (svg: string) =>
  svg.split('<g class="panel" ').slice(1).map((chunk) => {
    const [, metric, variants] = /^data-metric="(\w+)" data-variants="([\w ]+)"/.exec(chunk)!;
    return { metric, variants: variants.split(' '), markup: chunk.slice(0, chunk.indexOf('</g></g>')) };
  });
/** A panel's y-axis labels: the tick texts right-aligned left of its frame. */
const yTicks = (svg: string, panel: number) => [...panels(svg)[panel].markup.matchAll(/text-anchor="end">([-\d.]+)<\/text>/g)].map((m) => Number(m[1]));

describe('niceTicks', () => {
  it('puts ticks on 1, 2, 2.5 or 5 times a power of ten, covering the range', () => {
    expect(niceTicks(0.368, 1.3).values).toEqual([0.2, 0.4, 0.6, 0.8, 1, 1.2, 1.4]);
    expect(niceTicks(82.7, 88.2).values).toEqual([82, 84, 86, 88, 90]);
    expect(niceTicks(0, 1).values).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(0, 0.0123).step).toBe(0.0025);
    expect(niceTicks(5, 5).values.length).toBeGreaterThan(1); // a flat curve still gets an axis
    for (const [lo, hi] of [[0.001, 0.0042], [-3.3, 7.1], [12_345, 67_890], [0.96, 0.975]]) {
      const t = niceTicks(lo, hi);
      expect(t.lo).toBeLessThanOrEqual(lo);
      expect(t.hi).toBeGreaterThanOrEqual(hi);
      expect(t.values.length).toBeGreaterThanOrEqual(3);
      expect(t.values.length).toBeLessThanOrEqual(11);
      const m = t.step / 10 ** Math.floor(Math.log10(t.step) + 1e-9);
      expect([1, 2, 2.5, 5]).toContainEqual(Number(m.toFixed(6)));
      for (const v of t.values) expect(Number(v.toFixed(t.decimals))).toBe(v);
    }
  });
});

describe('report.svg', () => {
  const svg = renderReportSvg(report);

  it('fits the accuracy axis to the data (not 0-100) and labels both axes on round numbers', () => {
    expect(yTicks(svg, 0)).toEqual([0.25, 0.5, 0.75, 1, 1.25, 1.5]);
    const acc = yTicks(svg, 1);
    expect(acc[0]).toBeLessThanOrEqual(20); // the naive midpoint's 20 % is on the axis
    expect(acc.at(-1)).toBeLessThanOrEqual(100);
    // without a collapsed naive curve the axis zooms in on the few points that matter
    const close = renderReportSvg({ ...report, variants: { aligned: report.variants.aligned, repaired: report.variants.repaired } as Report['variants'] });
    expect(panels(close)).toHaveLength(2);
    const zoomed = yTicks(close, 1);
    expect(zoomed[0]).toBeGreaterThanOrEqual(80);
    expect(zoomed.at(-1)).toBeLessThanOrEqual(90);
    expect(zoomed.length).toBeGreaterThanOrEqual(3);
  });

  it('zooms a second row in on the aligned variants when the naive curve would flatten them', () => {
    expect(panels(svg).map((p) => [p.metric, p.variants.join(',')])).toEqual([
      ['loss', 'naive,aligned,repaired'], ['accuracy', 'naive,aligned,repaired'], ['loss', 'aligned,repaired'], ['accuracy', 'aligned,repaired'],
    ]);
    const acc = yTicks(svg, 3);
    expect(acc[0]).toBeGreaterThanOrEqual(82);
    expect(acc.at(-1)).toBeLessThanOrEqual(90);
    expect(panels(svg)[3].markup).not.toContain('data-variant="naive"');
  });

  it("draws each variant's chord between its own endpoints, in every panel", () => {
    for (const panel of panels(svg)) {
      const chords = [...panel.markup.matchAll(/<line class="chord" data-variant="(\w+)" x1="([\d.]+)" y1="([\d.]+)" x2="([\d.]+)" y2="([\d.]+)"/g)];
      expect(chords.map((c) => c[1])).toEqual(panel.variants);
      for (const c of chords) {
        const pts = new RegExp(`<polyline class="curve" data-variant="${c[1]}"[^>]*points="([^"]+)"`).exec(panel.markup)![1].split(' ');
        const [start, end] = [pts[0], pts[pts.length - 1]].map((p) => p.split(',').map(Number));
        expect([Number(c[2]), Number(c[3])]).toEqual(start);
        expect([Number(c[4]), Number(c[5])]).toEqual(end);
      }
    }
    // RESET moved the repaired endpoints: its loss chord is not the aligned one
    const loss = [...panels(svg)[0].markup.matchAll(/<line class="chord" data-variant="\w+" x1="[\d.]+" y1="([\d.]+)"/g)].map((m) => m[1]);
    expect(loss[2]).not.toBe(loss[1]);
  });

  it('tells variants apart by colour-blind-safe colour, dash and marker', () => {
    const styles = Object.values(VARIANT_STYLE);
    expect(new Set(styles.map((s) => s.color)).size).toBe(3);
    expect(new Set(styles.map((s) => s.dash)).size).toBe(3);
    expect(new Set(styles.map((s) => s.marker)).size).toBe(3);
    for (const s of styles) expect(['#E69F00', '#56B4E9', '#009E73', '#F0E442', '#0072B2', '#D55E00', '#CC79A7', '#000000']).toContain(s.color);
    expect(svg).toContain('stroke-dasharray="7 4"');
    expect(svg).toMatch(/<rect x="[\d.]+" y="[\d.]+" width="6" height="6" fill="#D55E00"\/>/);
    expect(svg).toMatch(/<path d="M[^"]+Z" fill="#009E73"\/>/);
  });

  it('titles the plot with dataset, sample count, method and models; the legend gives both barriers', () => {
    expect(svg).toContain('fashion-mnist test (10,000 samples) · weight matching · 2 models: seed1.safetensors, seed2.safetensors');
    const legend = [...svg.matchAll(/<g class="legend" data-variant="(\w+)">.*?<text[^>]*>([^<]+)<\/text><\/g>/g)].map((m) => [m[1], m[2]]);
    expect(legend.map(([v]) => v)).toEqual(['naive', 'aligned', 'repaired']);
    expect(legend[2][1]).toBe(`aligned + RESET: loss barrier ${report.variants.repaired!.barrier.loss.max.toFixed(3)}, accuracy barrier ${(100 * report.variants.repaired!.barrier.accuracy.max).toFixed(1)} pts`);
    expect(legend[0][1]).toMatch(/^naive average: loss barrier 0\.\d{3}, accuracy barrier \d+\.\d pts/);
  });

  it('escapes names it did not write', () => {
    const named = renderReportSvg({ ...report, modelNames: ['<script>x</script>', 'b&c'] });
    expect(named).not.toContain('<script>');
    expect(named).toContain('&lt;script&gt;x&lt;/script&gt;, b&amp;c');
  });
});

describe('report.html', () => {
  const html = renderReportHtml(report);

  it('is one self-contained page: the plot inline, no scripts, nothing fetched', () => {
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).toContain('<svg xmlns="http://www.w3.org/2000/svg"');
    expect(html).not.toMatch(/<script|<link|<img|@import|url\((?!#)/i);
    expect(html.match(/(?:src|href)=/g)).toBeNull();
  });

  it('holds the barrier table and the permutation spaces, escaped', () => {
    const rows = [...html.matchAll(/<tr><th scope="row">([^<]+)<\/th>/g)].map((m) => m[1]);
    expect(rows).toEqual(['naive average', 'aligned', 'aligned + RESET', 'P0']);
    expect(html).toContain(`<td>${report.variants.aligned!.barrier.loss.max.toFixed(3)} <small>at α ${report.variants.aligned!.barrier.loss.argmax}</small></td>`);
    expect(html).toContain('<code>layers.&lt;b&gt;.weight:1</code>');
    expect(html).toContain('a &lt;warning&gt; &amp; more');
    expect(html).toContain('by alignment 80.0\u00a0%');
    expect(html).toContain('<td>85.5\u00a0%</td>'); // repaired accuracy at the output alpha
  });
});
