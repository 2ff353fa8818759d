import type { Report, Variant, VariantReport } from '../../contracts/index.ts';
import { esc, renderReportSvg, variantLabel } from './svg.ts';

const pct = (v: number | null | undefined, digits = 1) => (v === null || v === undefined || !Number.isFinite(v) ? '–' : `${(100 * v).toFixed(digits)}\u00a0%`);
const fixed = (v: number, digits = 3) => (Number.isFinite(v) ? v.toFixed(digits) : '–');

/** Value of a curve at alpha, from the grid (the output alpha is normally a grid point). */
function atAlpha(alphas: readonly number[], values: readonly number[], alpha: number): number {
  const i = alphas.findIndex((a) => Math.abs(a - alpha) < 1e-9);
  return i >= 0 ? values[i] : NaN;
}

function barrierRows(report: Report): string {
  const aligned = Boolean(report.variants.aligned);
  return (Object.entries(report.variants) as [Variant, VariantReport | undefined][])
    .filter((e): e is [Variant, VariantReport] => Boolean(e[1]))
    .map(([name, v]) => {
      const last = v.accuracy.length - 1;
      return `<tr><th scope="row">${esc(variantLabel(name, v, aligned))}</th>
<td>${pct(v.accuracy[0])}</td><td>${pct(v.accuracy[last])}</td><td>${pct(atAlpha(report.alphas, v.accuracy, report.merged.alpha))}</td>
<td>${fixed(v.barrier.loss.mid)}</td><td>${fixed(v.barrier.loss.max)} <small>at α ${v.barrier.loss.argmax}</small></td>
<td>${fixed(100 * v.barrier.accuracy.mid, 2)}</td><td>${fixed(100 * v.barrier.accuracy.max, 2)} <small>at α ${v.barrier.accuracy.argmax}</small></td></tr>`;
    })
    .join('\n');
}

function permutationRows(report: Report): string {
  return report.alignment.permutations
    .map((p) => `<tr><th scope="row">${esc(p.name)}</th><td>${p.size}</td><td>${p.axes.map((a) => `<code>${esc(a)}</code>`).join(' ')}</td></tr>`)
    .join('\n');
}

const CSS = `body{font:15px/1.45 Helvetica,Arial,sans-serif;color:#222;max-width:1020px;margin:24px auto;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}p.sub{color:#555;margin:0 0 16px}
table{border-collapse:collapse;width:100%;font-size:14px}th,td{border-bottom:1px solid #ddd;padding:5px 8px;text-align:left;vertical-align:top}
thead th{background:#f4f4f4}td small{color:#666}code{font-size:12px;background:#f4f4f4;padding:1px 3px;border-radius:3px;margin:0 2px 2px 0;display:inline-block}
.plot svg{max-width:100%;height:auto}dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:0}dt{color:#555}dd{margin:0}
ul.warn{color:#8a4b00}`;

/**
 * report.html: one self-contained page (no scripts, no external assets) with the plot, the barrier
 * table and the permutation spaces, for a reader with only a browser.
 */
export function renderReportHtml(report: Report): string {
  const ev = report.evaluation;
  const a = report.alignment;
  const notes = [...report.warnings, ...report.siteIssues.map((s) => `${s.code} at ${s.site}, α ${s.alpha}: ${s.message}`)];
  const identity = a.identityFraction?.length ? ` · units left in place: ${a.identityFraction.map((f) => pct(f, 0)).join(', ')}` : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>basin merge report: ${esc(ev.dataset ?? 'merge')}</title><style>${CSS}</style></head>
<body>
<h1>Merge report</h1>
<p class="sub">${report.models} models${report.modelNames ? ` (${esc(report.modelNames.join(', '))})` : ''} · evaluated on ${esc(ev.dataset ?? 'the evaluation data')}, ${ev.samples.toLocaleString('en-US')} samples · calibrated on ${esc(ev.calibrationDataset ?? 'the calibration data')}, ${ev.calibrationSamples.toLocaleString('en-US')} samples</p>
<div class="plot">${renderReportSvg(report)}</div>
<h2>Barriers</h2>
<table><thead><tr><th>variant</th><th>accuracy at α 0</th><th>at α 1</th><th>at α ${report.merged.alpha} (output)</th><th>loss barrier mid</th><th>loss barrier max</th><th>accuracy barrier mid (pts)</th><th>accuracy barrier max (pts)</th></tr></thead>
<tbody>
${barrierRows(report)}
</tbody></table>
<p>mid: value at α 0.5 against the endpoints' mean (REPAIR's definition); max: the largest rise above the chord between the variant's own endpoints (Git Re-Basin's). Loss-barrier reduction by alignment ${pct(report.reduction.alignment)}, by the correction ${pct(report.reduction.repair)}.</p>
<h2>Merge</h2>
<dl><dt>returned weights</dt><dd>${esc(report.merged.variant)} at α ${report.merged.alpha}</dd>
<dt>alignment</dt><dd>${esc(a.method)}, strategy ${esc(a.strategy)}, ${a.iterations} iterations${identity}</dd>
<dt>backend</dt><dd>${esc(report.backend)}</dd>
<dt>time</dt><dd>${fixed(report.timings.total, 1)} s (load ${fixed(report.timings.load, 1)}, align ${fixed(report.timings.align, 1)}, repair ${fixed(report.timings.repair, 1)}, sweep ${fixed(report.timings.sweep, 1)})</dd></dl>
${notes.length ? `<h2>Warnings</h2><ul class="warn">${notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>` : ''}
<h2>Permutation spaces</h2>
<p>Tensor axes that share one permutation of hidden units, inferred from the architecture (<code>tensor:axis</code>).</p>
<table><thead><tr><th>space</th><th>units</th><th>axes</th></tr></thead>
<tbody>
${permutationRows(report)}
</tbody></table>
${report.unusedTensors.length ? `<p>Tensors in the checkpoints the architecture does not read: ${report.unusedTensors.map((t) => `<code>${esc(t)}</code>`).join(' ')}</p>` : ''}
</body></html>
`;
}
