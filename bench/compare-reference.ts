/**
 * Side-by-side: basin's weight matching against the independent numpy/SciPy implementation in
 * bench/reference-weight-matching.py, on an example MLP pair. Needs python3 with numpy and scipy;
 * not part of the tests or CI. `npx tsx bench/compare-reference.ts [PAIR]`.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { EXAMPLES } from '../examples/pairs.ts';
import { initBackend } from '../src/pipeline/runtime/backend.ts';
import { buildGraph, shapesOf } from '../src/pipeline/model/graph.ts';
import { inferPermutationSpec } from '../src/pipeline/model/permspec.ts';
import { readSafetensors } from '../src/pipeline/io/safetensors.ts';
import { fileSource, nodeHost } from '../src/pipeline/runtime/nodeHost.ts';
import { weightMatching } from '../src/pipeline/align/weightMatching.ts';
import { examplesDir } from './common.ts';

const name = process.argv[2] ?? 'mnist-mlp3x512';
const example = EXAMPLES.find((e) => e.name === name);
if (!example || !('template' in example.architecture) || example.architecture.template !== 'mlp') throw new Error(`${name}: the reference handles the MLP pairs only`);
const [pa, pb] = ['seed1', 'seed2'].map((s) => join(examplesDir, name, `${s}.safetensors`));
await initBackend({ hasGpuDevice: nodeHost.hasGpuDevice });
const load = async (p: string) => { const src = await fileSource(p); try { return (await readSafetensors(src)).tensors; } finally { await src.close?.(); } };
const [a, b] = [await load(pa), await load(pb)];
const spec = inferPermutationSpec(buildGraph(example.architecture, shapesOf(a)));
let t0 = performance.now();
const ours = weightMatching(spec, a, b, { seed: 0, maxIterations: 100 });
const oursSeconds = (performance.now() - t0) / 1000;
t0 = performance.now();
const ref = JSON.parse(execFileSync('python3', [join(import.meta.dirname, 'reference-weight-matching.py'), pa, pb], { encoding: 'utf8' })) as { iterations: number; perms: number[][] };
const refSeconds = (performance.now() - t0) / 1000;
const same = ours.perms.map((p, i) => p.every((v, k) => v === ref.perms[i][k]));
console.log(`${name}: basin ${ours.iterations} sweeps in ${oursSeconds.toFixed(2)} s; numpy/SciPy reference ${ref.iterations} sweeps in ${refSeconds.toFixed(2)} s (process, with start-up)`);
console.log(`permutations identical: ${same.map((s, i) => `P${i} ${s ? 'yes' : 'NO'}`).join(', ')}`);
process.exitCode = same.every(Boolean) && ours.iterations === ref.iterations ? 0 : 1;
