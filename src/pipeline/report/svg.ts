import type { Report } from '../../contracts/index.ts';

const COLORS: Record<string, string> = { naive: '#d62728', aligned: '#1f77b4', repaired: '#2ca02c' };
const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
const num = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toFixed(3));

interface Panel { title: string; key: 'loss' | 'accuracy'; x: number }

/** report.svg: loss and accuracy against alpha, one line per variant; a dependency-free SVG string. */
export function renderReportSvg(report: Pick<Report, 'alphas' | 'variants' | 'merged'>): string {
  const W = 900, H = 380, pw = 360, ph = 250, top = 50;
  const panels: Panel[] = [{ title: 'Loss (cross-entropy)', key: 'loss', x: 70 }, { title: 'Accuracy', key: 'accuracy', x: 510 }];
  const variants = Object.entries(report.variants).filter(([, v]) => v) as [string, NonNullable<Report['variants']['naive']>][];
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">Interpolation barrier: loss and accuracy against alpha</text>`,
  ];
  for (const p of panels) {
    const all = variants.flatMap(([, v]) => v[p.key]).filter(Number.isFinite);
    let lo = Math.min(...all), hi = Math.max(...all);
    if (p.key === 'accuracy') { lo = Math.min(lo, 0); hi = Math.max(hi, 1); }
    if (!(hi > lo)) { hi = lo + 1; }
    const sx = (a: number) => p.x + a * pw;
    const sy = (v: number) => top + ph - ((v - lo) / (hi - lo)) * ph;
    out.push(`<text x="${p.x + pw / 2}" y="${top - 10}" text-anchor="middle">${esc(p.title)}</text>`);
    out.push(`<rect x="${p.x}" y="${top}" width="${pw}" height="${ph}" fill="none" stroke="#444"/>`);
    for (let i = 0; i <= 4; i++) {
      const v = lo + ((hi - lo) * i) / 4;
      out.push(`<line x1="${p.x}" x2="${p.x + pw}" y1="${sy(v)}" y2="${sy(v)}" stroke="#ddd"/><text x="${p.x - 6}" y="${sy(v) + 4}" text-anchor="end">${num(v)}</text>`);
      const a = i / 4;
      out.push(`<text x="${sx(a)}" y="${top + ph + 16}" text-anchor="middle">${a}</text>`);
    }
    out.push(`<text x="${p.x + pw / 2}" y="${top + ph + 34}" text-anchor="middle">alpha</text>`);
    out.push(`<line x1="${sx(report.merged.alpha)}" x2="${sx(report.merged.alpha)}" y1="${top}" y2="${top + ph}" stroke="#999" stroke-dasharray="4 3"/>`);
    for (const [name, v] of variants) {
      const pts = report.alphas.map((a, i) => [a, v[p.key][i]] as const).filter(([, y]) => Number.isFinite(y));
      out.push(`<polyline fill="none" stroke="${COLORS[name] ?? '#000'}" stroke-width="2" points="${pts.map(([a, y]) => `${sx(a).toFixed(1)},${sy(y).toFixed(1)}`).join(' ')}"/>`);
      for (const [a, y] of pts) out.push(`<circle cx="${sx(a).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="2.5" fill="${COLORS[name] ?? '#000'}"/>`);
    }
  }
  variants.forEach(([name, v], i) => {
    const x = 70 + i * 250;
    const label = `${name}${v.method ? ` (${v.method})` : ''}: loss barrier ${num(v.barrier.loss.max)}`;
    out.push(`<line x1="${x}" x2="${x + 24}" y1="${H - 22}" y2="${H - 22}" stroke="${COLORS[name] ?? '#000'}" stroke-width="3"/><text x="${x + 30}" y="${H - 18}">${esc(label)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}
