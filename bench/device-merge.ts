/**
 * The merge a GPU device check times (bench/device-check.sh runs it from the bundle that
 * bench/device-pack.sh builds, with no node_modules beside it): each example pair named, on each
 * candidate engine, weight matching + REPAIR/RESET + an 11-point sweep on the datasets the pack
 * exported, printing the stage timings of each as one JSON line. A candidate that cannot load says why.
 *
 *   node merge.mjs --data DIR --pairs fashion-vgg --candidates tfjs:webgpu,onnxruntime:cpu
 */
import { readFile } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { LocalMergeRequest } from '../src/contracts/index.ts';
import { initBackend } from '../src/pipeline/runtime/backend.ts';
import { createEngine, type EngineName } from '../src/pipeline/runtime/engines.ts';
import { runMerge } from '../src/pipeline/merge.ts';
import { prepareMerge } from '../src/pipeline/prepare.ts';
import { fileSource, nodeHost } from '../src/pipeline/runtime/nodeHost.ts';

const { values: args } = parseArgs({ options: {
  data: { type: 'string', default: '.device/data' },
  examples: { type: 'string', default: 'examples' },
  pairs: { type: 'string', default: 'fashion-vgg' },
  candidates: { type: 'string', default: 'tfjs:webgpu,onnxruntime:cpu' },
} });

for (const pair of args.pairs.split(',')) {
  const dir = join(args.examples, pair);
  const raw = JSON.parse(await readFile(join(dir, 'request.json'), 'utf8'));
  const request = LocalMergeRequest.parse({
    ...raw,
    data: { calibration: { path: resolve(args.data, 'calibration.safetensors') }, evaluation: { path: resolve(args.data, 'evaluation.safetensors') } },
    alignment: { method: 'weight', seed: 0 }, sweep: { points: 11 },
  });
  for (const candidate of args.candidates.split(',')) {
    const [engineName, device] = candidate.split(':') as [EngineName, string];
    const t0 = performance.now();
    try {
      // tfjs runs the gradients and weight matching's products either way: on the GPU backend when it loads
      const backend = await initBackend({ prefer: engineName === 'tfjs' ? [device, 'cpu'] : ['webgpu', 'cpu'], hasGpuDevice: nodeHost.hasGpuDevice });
      if (engineName === 'tfjs' && backend.name !== device) throw new Error(`tfjs backend ${device} unavailable: ${JSON.stringify(backend.tried)}`);
      const { engine } = await createEngine({ prefer: [engineName], threads: nodeHost.threads(), batchSize: 1000 });
      // models relative to the example, data absolute
      const prepared = await prepareMerge(request, async (ref) => {
        if (!('path' in ref)) throw new Error('the device check reads local files only');
        return fileSource(isAbsolute(ref.path) ? ref.path : join(dir, ref.path));
      }, nodeHost);
      const { report } = await runMerge({ ...prepared, options: request, backend: backend.name, engine, loadSeconds: (performance.now() - t0) / 1000 });
      console.log(JSON.stringify({ pair, candidate, engine: report.engine, backend: report.backend, timings: report.timings, lossBarrier: Object.fromEntries(Object.entries(report.variants).map(([k, v]) => [k, v!.barrier.loss.max])) }));
    } catch (e) {
      console.log(JSON.stringify({ pair, candidate, failed: (e as Error).message.split('\n')[0] }));
    }
  }
}

