/**
 * `npm run examples:screenshots`: merges example pairs with the CLI, keeps their report.svg and
 * report.html next to the checkpoints, and photographs both in Debian's Chromium for README
 * (examples/screenshots/*.png). Everything in the pictures is this project's own output.
 * `-- --reuse` skips a merge whose report.json is already in out/screenshots/ and renders the
 * plot and page again from it (the ResNet pair's sweep takes minutes on 2 cores).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Report } from '../src/contracts/index.ts';
import { renderReportHtml } from '../src/pipeline/report/html.ts';
import { renderReportSvg } from '../src/pipeline/report/svg.ts';
import { launchChromium } from './chromium.ts';

/** The MLP (REPAIR) and the BatchNorm ResNet (RESET: its repaired endpoints, and chord, move). */
const PAIRS = ['fashion-mlp6x128', 'fashion-resnet-bn'];
const root = resolve(import.meta.dirname, '..');
const shots = join(root, 'examples', 'screenshots');

await mkdir(shots, { recursive: true });
const browser = await launchChromium();
try {
  for (const pair of PAIRS) {
    const dir = join(root, 'examples', pair);
    const out = join(root, 'out', 'screenshots', pair);
    if (!(process.argv.includes('--reuse') && existsSync(join(out, 'report.json')))) {
      console.log(`merging ${pair} ...`);
      const r = spawnSync(process.execPath, [join(root, 'bin', 'basin.mjs'), 'merge', join(dir, 'request.json'), '--out', out], { stdio: 'inherit' });
      if (r.status !== 0) throw new Error(`basin-merge on ${pair} exited with ${r.status}`);
    }
    // what the CLI and the runner write, from the merge's report
    const report = Report.parse(JSON.parse(await readFile(join(out, 'report.json'), 'utf8')));
    await writeFile(join(dir, 'report.svg'), renderReportSvg(report));
    await writeFile(join(dir, 'report.html'), renderReportHtml(report));

    const page = await browser.newPage({ viewport: { width: 1060, height: 900 }, deviceScaleFactor: 1 });
    await page.goto(pathToFileURL(join(dir, 'report.html')).href);
    await page.screenshot({ path: join(shots, `${pair}-report.png`), fullPage: true });
    await page.goto(pathToFileURL(join(dir, 'report.svg')).href);
    await page.locator('svg').screenshot({ path: join(shots, `${pair}-plot.png`) });
    await page.close();
    console.log(`wrote examples/${pair}/report.{svg,html}, examples/screenshots/${pair}-{report,plot}.png`);
  }
} finally {
  await browser.close();
}
