import type { Report, Variant, VariantReport } from '../../contracts/index.ts';

/** What the plot reads of a report; the descriptive fields only feed the title. */
export type PlotInput = Pick<Report, 'alphas' | 'variants' | 'merged'> & Partial<Pick<Report, 'alignment' | 'models' | 'modelNames' | 'evaluation'>>;

/**
 * Okabe-Ito colours (told apart with every common colour-vision deficiency), and per variant a dash
 * pattern and a marker as well, so the lines stay distinct in greyscale print.
 */
export const VARIANT_STYLE: Record<Variant, { color: string; dash: string; marker: 'square' | 'circle' | 'triangle' }> = {
  naive: { color: '#D55E00', dash: '7 4', marker: 'square' },
  aligned: { color: '#0072B2', dash: '', marker: 'circle' },
  repaired: { color: '#009E73', dash: '12 3 3 3', marker: 'triangle' },
};
const CHORD_DASH = '1.5 3';
const METHOD_LABEL: Record<string, string> = {
  weight: 'weight matching', activation: 'activation matching', ste: 'STE (learned)', sinkhorn: 'Sinkhorn (learned)', none: 'no alignment',
};

export const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

export interface Ticks { lo: number; hi: number; step: number; values: number[]; decimals: number }

/**
 * Axis ticks on round numbers (1, 2, 2.5 or 5 times a power of ten), about `target` of them, with
 * the axis widened to the nearest ticks around [lo, hi].
 */
export function niceTicks(lo: number, hi: number, target = 5): Ticks {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) [lo, hi] = [0, 1];
  if (!(hi > lo)) {
    const pad = Math.abs(lo) * 0.05 || 0.5;
    [lo, hi] = [lo - pad, hi + pad];
  }
  const raw = (hi - lo) / target;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const mult = [1, 2, 2.5, 5, 10].find((m) => m * magnitude >= raw * (1 - 1e-9))!;
  const step = mult * magnitude;
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9) + (mult === 2.5 ? 1 : 0));
  const first = Math.floor(lo / step + 1e-9);
  const last = Math.ceil(hi / step - 1e-9);
  const round = (v: number) => Number(v.toFixed(decimals));
  const values = Array.from({ length: last - first + 1 }, (_, i) => round((first + i) * step));
  return { lo: values[0], hi: values[values.length - 1], step, values, decimals };
}

/** A variant's name as a reader knows it: the correction is named after what it corrects. */
export function variantLabel(name: Variant, v: VariantReport, aligned: boolean): string {
  if (name === 'naive') return 'naive average';
  if (name === 'aligned') return 'aligned';
  return `${aligned ? 'aligned + ' : ''}${(v.method ?? 'repair').toUpperCase()}`;
}

/** "Fashion-MNIST test (10,000 samples) · weight matching · 2 models: seed1, seed2" from what the report holds. */
function subtitle(report: PlotInput): string {
  const parts: string[] = [];
  const ev = report.evaluation;
  if (ev) parts.push(`${ev.dataset ?? 'evaluation data'} (${ev.samples.toLocaleString('en-US')} samples)`);
  if (report.alignment) parts.push(METHOD_LABEL[report.alignment.method] ?? report.alignment.method);
  if (report.models !== undefined) {
    const names = report.modelNames?.join(', ');
    parts.push(`${report.models} models${names && names.length <= 80 ? `: ${names}` : ''}`);
  }
  return parts.join(' · ');
}

function marker(kind: 'square' | 'circle' | 'triangle', x: number, y: number, color: string): string {
  const [cx, cy] = [x.toFixed(1), y.toFixed(1)];
  if (kind === 'circle') return `<circle cx="${cx}" cy="${cy}" r="3.2" fill="${color}"/>`;
  if (kind === 'square') return `<rect x="${(x - 3).toFixed(1)}" y="${(y - 3).toFixed(1)}" width="6" height="6" fill="${color}"/>`;
  return `<path d="M${cx} ${(y - 4).toFixed(1)}L${(x + 3.8).toFixed(1)} ${(y + 2.6).toFixed(1)}L${(x - 3.8).toFixed(1)} ${(y + 2.6).toFixed(1)}Z" fill="${color}"/>`;
}

interface Panel { title: string; key: 'loss' | 'accuracy'; x: number; y: number; scale: number; variants: Variant[] }

/** Spread of the finite values of some variants' curves. */
function spread(report: PlotInput, key: 'loss' | 'accuracy', names: Variant[]): number {
  const all = names.flatMap((n) => report.variants[n]![key]).filter(Number.isFinite);
  return all.length ? Math.max(...all) - Math.min(...all) : 0;
}

/**
 * report.svg: loss and accuracy against alpha, one line per variant with the chord between its own
 * endpoints (the barrier is measured against it; RESET moves the repaired endpoints), both axes
 * fitted to the data; when the naive curve's excursion would flatten the others, a second row shows
 * the aligned variants alone. A dependency-free SVG string: the runner, the CLI and report.html embed it.
 */
export function renderReportSvg(report: PlotInput): string {
  const W = 980, pw = 390, ph = 250, top = 78, rowGap = ph + 74;
  const variants = (Object.entries(report.variants) as [Variant, VariantReport | undefined][]).filter((e): e is [Variant, VariantReport] => Boolean(e[1]));
  const names = variants.map(([n]) => n);
  const hasAligned = names.includes('aligned');
  // When the naive curve's excursion dwarfs the others, a second row zooms in on the aligned ones.
  const close = names.filter((n) => n !== 'naive');
  const zoom = close.length > 0 && close.length < names.length && (['loss', 'accuracy'] as const).some((k) => spread(report, k, close) < spread(report, k, names) / 3);
  const panels: Panel[] = [
    { title: 'Loss (cross-entropy)', key: 'loss', x: 70, y: top, scale: 1, variants: names },
    { title: 'Accuracy (%)', key: 'accuracy', x: 70 + pw + 80, y: top, scale: 100, variants: names },
  ];
  if (zoom) {
    panels.push(
      { title: 'Loss, aligned variants only', key: 'loss', x: 70, y: top + rowGap, scale: 1, variants: close },
      { title: 'Accuracy (%), aligned variants only', key: 'accuracy', x: 70 + pw + 80, y: top + rowGap, scale: 100, variants: close },
    );
  }
  const legendTop = top + (zoom ? rowGap : 0) + ph + 62;
  const H = legendTop + 18 * (variants.length + 1) + 8;
  const endLabel = (report.models ?? 2) > 2 ? 'mean of the others' : 'model 2';
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12" fill="#222">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="26" text-anchor="middle" font-size="16" font-weight="bold">Linear interpolation between the models: loss and accuracy against α</text>`,
    `<text x="${W / 2}" y="46" text-anchor="middle" fill="#555">${esc(subtitle(report))}</text>`,
  ];
  panels.forEach((p, index) => {
    const top = p.y;
    const curves = p.variants.map((name) => ({ name, pts: report.alphas.map((a, i) => [a, report.variants[name]![p.key][i] * p.scale] as const).filter(([, y]) => Number.isFinite(y)) }));
    const all = curves.flatMap((c) => c.pts.map(([, y]) => y));
    const [dataLo, dataHi] = all.length ? [Math.min(...all), Math.max(...all)] : [0, 1];
    const pad = (dataHi - dataLo) * 0.04;
    const ticks = niceTicks(dataLo - pad, dataHi + pad, 5);
    const sx = (a: number) => p.x + a * pw;
    const sy = (v: number) => top + ph - ((v - ticks.lo) / (ticks.hi - ticks.lo)) * ph;
    out.push(`<g class="panel" data-metric="${p.key}" data-variants="${p.variants.join(' ')}">`);
    out.push(`<text x="${p.x + pw / 2}" y="${top - 10}" text-anchor="middle" font-weight="bold">${esc(p.title)}</text>`);
    for (const v of ticks.values) {
      out.push(`<line x1="${p.x}" x2="${p.x + pw}" y1="${sy(v).toFixed(1)}" y2="${sy(v).toFixed(1)}" stroke="#e4e4e4"/><text x="${p.x - 6}" y="${(sy(v) + 4).toFixed(1)}" text-anchor="end">${v.toFixed(ticks.decimals)}</text>`);
    }
    for (const a of niceTicks(0, 1, 5).values) {
      out.push(`<line x1="${sx(a)}" x2="${sx(a)}" y1="${top + ph}" y2="${top + ph + 4}" stroke="#444"/><text x="${sx(a)}" y="${top + ph + 17}" text-anchor="middle">${a.toFixed(1)}</text>`);
    }
    out.push(`<rect x="${p.x}" y="${top}" width="${pw}" height="${ph}" fill="none" stroke="#444"/>`);
    out.push(`<text x="${p.x + pw / 2}" y="${top + ph + 36}" text-anchor="middle">α (0 = model 1, 1 = ${endLabel})</text>`);
    const mx = sx(report.merged.alpha).toFixed(1);
    out.push(`<line x1="${mx}" x2="${mx}" y1="${top}" y2="${top + ph}" stroke="#888" stroke-dasharray="4 3"/>`);
    out.push(`<clipPath id="clip-${index}"><rect x="${p.x}" y="${top}" width="${pw}" height="${ph}"/></clipPath><g clip-path="url(#clip-${index})">`);
    for (const { name, pts } of curves) {
      const s = VARIANT_STYLE[name];
      const v = report.variants[name]![p.key];
      const [y0, y1] = [v[0] * p.scale, v[v.length - 1] * p.scale];
      if (Number.isFinite(y0) && Number.isFinite(y1)) {
        out.push(`<line class="chord" data-variant="${name}" x1="${sx(0)}" y1="${sy(y0).toFixed(1)}" x2="${sx(1)}" y2="${sy(y1).toFixed(1)}" stroke="${s.color}" stroke-width="1.2" stroke-dasharray="${CHORD_DASH}" opacity="0.8"/>`);
      }
      const path = pts.map(([a, y]) => `${sx(a).toFixed(1)},${sy(y).toFixed(1)}`).join(' ');
      out.push(`<polyline class="curve" data-variant="${name}" fill="none" stroke="${s.color}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''} points="${path}"/>`);
      for (const [a, y] of pts) out.push(marker(s.marker, sx(a), sy(y), s.color));
    }
    out.push('</g></g>');
  });
  variants.forEach(([name, v], i) => {
    const s = VARIANT_STYLE[name];
    const y = legendTop + i * 18;
    const label = `${variantLabel(name, v, hasAligned)}: loss barrier ${v.barrier.loss.max.toFixed(3)}, accuracy barrier ${(100 * v.barrier.accuracy.max).toFixed(1)} pts`;
    out.push(`<g class="legend" data-variant="${name}"><line x1="70" x2="110" y1="${y}" y2="${y}" stroke="${s.color}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>${marker(s.marker, 90, y, s.color)}<text x="118" y="${y + 4}">${esc(label)}</text></g>`);
  });
  const noteY = legendTop + variants.length * 18;
  out.push(`<line x1="70" x2="110" y1="${noteY}" y2="${noteY}" stroke="#555" stroke-width="1.2" stroke-dasharray="${CHORD_DASH}"/><text x="118" y="${noteY + 4}" fill="#555">chord: the straight line between a variant's own endpoints (a barrier is the largest rise above it); grey dashes: the returned weights (${esc(report.merged.variant)} at α = ${report.merged.alpha})</text>`);
  out.push('</svg>');
  return out.join('\n');
}
