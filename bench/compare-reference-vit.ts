/**
 * Side-by-side: basin's ViT math against the independent PyTorch implementation in
 * bench/reference-vit.py, on the example ViT pair (timm names): the logits of one model, permuted-
 * model invariance, and the naive and weight-matching-aligned interpolation curves. Needs
 * /usr/bin/python3 with torch and scipy (Debian's python3-torch, python3-scipy); not part of the
 * tests or CI. `npx tsx bench/compare-reference-vit.ts [DIR] [--eval N]`, DIR a folder with request.json
 * (a vit template, timm names) and its two models; default examples/fashion-vit.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { VitTemplate } from '../src/contracts/index.ts';
import { applyPermutations } from '../src/pipeline/align/permute.ts';
import { weightMatching } from '../src/pipeline/align/weightMatching.ts';
import { loadBuiltin } from '../src/pipeline/io/datasets.ts';
import { readSafetensors } from '../src/pipeline/io/safetensors.ts';
import { forward } from '../src/pipeline/model/forward.ts';
import { buildGraph, shapesOf } from '../src/pipeline/model/graph.ts';
import { lerpStates } from '../src/pipeline/model/interpolate.ts';
import { evaluate, forEachBatch, withModel } from '../src/pipeline/model/passes.ts';
import { inferPermutationSpec } from '../src/pipeline/model/permspec.ts';
import { barrier, alphaGrid } from '../src/pipeline/report/barrier.ts';
import { initBackend } from '../src/pipeline/runtime/backend.ts';
import { fileSource, nodeHost, writeSafetensorsFile } from '../src/pipeline/runtime/nodeHost.ts';
import type { StateDict } from '../src/pipeline/model/tensor.ts';
import { examplesDir, fmt, pct } from './common.ts';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { eval: { type: 'string', default: '2000' } } });
// a folder with request.json and its two models (the example pair by default)
const dir = positionals[0] ?? join(examplesDir, 'fashion-vit');
const request = JSON.parse(readFileSync(join(dir, 'request.json'), 'utf8'));
const arch = VitTemplate.parse(request.architecture);
if (arch.naming !== 'timm') throw new Error(`${dir}: the reference reads timm-named ViTs only`);
const dataset = request.data?.evaluation?.builtin ?? 'fashion-mnist';
const backend = await initBackend({ hasGpuDevice: nodeHost.hasGpuDevice });
const [pa, pb] = (request.models as { path: string }[]).map((m) => join(dir, m.path));
const load = async (p: string) => { const src = await fileSource(p); try { return (await readSafetensors(src)).tensors; } finally { await src.close?.(); } };
const [a, b] = [await load(pa), await load(pb)];
const graph = buildGraph(arch, shapesOf(a));
const spec = inferPermutationSpec(graph);
const data = await loadBuiltin(nodeHost.packageFiles, dataset, 'test', Number(values.eval));

// basin's logits of model A
const logits = new Float32Array(data.n * arch.classes);
withModel(graph, a, (model) => {
  let at = 0;
  forEachBatch(graph, data, 500, (x) => {
    const y = forward(model, x);
    logits.set(y.dataSync() as Float32Array, at);
    at += y.size;
    y.dispose();
  });
});

// basin's weight matching (as a merge runs it: seed 0, at most 100 sweeps) and its curves
let t0 = performance.now();
const { perms, iterations } = weightMatching(spec, a, b, { seed: 0, maxIterations: 100 });
const alignSeconds = (performance.now() - t0) / 1000;
const aligned = applyPermutations(b, spec, perms);
const alphas = alphaGrid(11);
const curve = (x: StateDict, y: StateDict) => alphas.map((al) => evaluate(graph, lerpStates(x, y, al), data, 500));
const ours = { naive: curve(a, b), aligned: curve(a, aligned) };

const work = mkdtempSync(join(tmpdir(), 'basin-vit-ref-'));
const y64 = new BigInt64Array(data.n);
data.y.forEach((v, i) => { y64[i] = BigInt(v); });
await writeSafetensorsFile(join(work, 'data.safetensors'), new Map([
  ['x', { kind: 'float', dtype: 'F32', shape: [data.n, ...arch.input], data: data.x }],
  ['y', { kind: 'int', dtype: 'I64', shape: [data.n], bytes: new Uint8Array(y64.buffer) }],
  ['logits', { kind: 'float', dtype: 'F32', shape: [data.n, arch.classes], data: logits }],
]));
writeFileSync(join(work, 'config.json'), JSON.stringify({
  heads: arch.heads, eps: arch.eps, pool: arch.pool, alphas, seed: 0,
  spaces: spec.spaces.map((s, i) => ({ axes: s.axes.map((ax) => [ax.tensor, ax.axis, ax.offset ?? 0]), perm: Array.from(perms[i]) })),
}));
t0 = performance.now();
const ref = JSON.parse(execFileSync('/usr/bin/python3', [join(import.meta.dirname, 'reference-vit.py'), pa, pb, join(work, 'data.safetensors'), join(work, 'config.json')], { encoding: 'utf8', maxBuffer: 1 << 26 })) as
  { logits: number; logitScale: number; invariance: number; naive: [number, number][]; aligned: [number, number][]; basinPerms: [number, number][] };
const refSeconds = (performance.now() - t0) / 1000;

console.log(`${dir} on ${data.n} test images (${backend.name}); basin weight matching: ${iterations} sweeps in ${alignSeconds.toFixed(1)} s; PyTorch reference ${refSeconds.toFixed(1)} s (process)`);
console.log(`logits of model A: largest difference ${ref.logits.toExponential(2)} (largest logit ${ref.logitScale.toFixed(2)})`);
console.log(`reference's own random permutation of every symmetry (heads included): logits move by at most ${ref.invariance.toExponential(2)}`);
console.log('\n| alpha | naive: basin loss / acc | naive: PyTorch | aligned: basin (its WM) | aligned: PyTorch (its own WM) | PyTorch with basin\'s permutations |');
console.log('|---|---|---|---|---|---|');
const cell = (l: number, acc: number) => `${fmt(l)} / ${pct(acc)}`;
alphas.forEach((al, i) => console.log(`| ${al.toFixed(1)} | ${cell(ours.naive[i].loss, ours.naive[i].accuracy)} | ${cell(...ref.naive[i])} | ${cell(ours.aligned[i].loss, ours.aligned[i].accuracy)} | ${cell(...ref.aligned[i])} | ${cell(...ref.basinPerms[i])} |`));
const lossBarrier = (c: number[]) => barrier(alphas, c).max;
const accBarrier = (c: number[]) => barrier(alphas, c, true).max;
const row = (label: string, losses: number[], accs: number[]) => console.log(`| ${label} | ${fmt(lossBarrier(losses))} | ${pct(accBarrier(accs))} |`);
console.log('\n| curve | loss barrier (max) | accuracy barrier (max, points) |\n|---|---|---|');
row('naive, basin', ours.naive.map((e) => e.loss), ours.naive.map((e) => e.accuracy));
row('naive, PyTorch', ref.naive.map((e) => e[0]), ref.naive.map((e) => e[1]));
row('aligned, basin', ours.aligned.map((e) => e.loss), ours.aligned.map((e) => e.accuracy));
row('aligned, PyTorch (own weight matching)', ref.aligned.map((e) => e[0]), ref.aligned.map((e) => e[1]));
row('aligned, PyTorch with basin\'s permutations', ref.basinPerms.map((e) => e[0]), ref.basinPerms.map((e) => e[1]));
