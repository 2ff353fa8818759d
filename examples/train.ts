/**
 * Trains the example pairs (seeds 1 and 2) on the built-in data with tfjs and writes them under
 * examples/<name>/ with a merge request per pair. Not part of CI: `npm run examples:train [-- --only NAME] [-- --seed 1|2]`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { initBackend } from '../src/pipeline/runtime/backend.ts';
import { batches, loadBuiltin, type Dataset } from '../src/pipeline/io/datasets.ts';
import { featuresOf } from '../src/pipeline/layers/shape.ts';
import { engineParams, exportState, forward, inputTensor, loadModel, type EngineModel } from '../src/pipeline/model/forward.ts';
import { buildGraph } from '../src/pipeline/model/graph.ts';
import { initState } from '../src/pipeline/model/init.ts';
import { evaluate } from '../src/pipeline/model/passes.ts';
import { mulberry32, randomPermutation } from '../src/pipeline/random.ts';
import { batchStatistics } from '../src/pipeline/model/wrappers.ts';
import { nodeHost, writeSafetensorsFile } from '../src/pipeline/runtime/nodeHost.ts';
import type { StateDict } from '../src/pipeline/model/tensor.ts';
import { EXAMPLES } from './pairs.ts';

const root = dirname(fileURLToPath(import.meta.url));

/** Shuffled copy of a dataset, seeded, so each epoch sees a different order. */
function shuffled(ds: Dataset, seed: number): Dataset {
  const order = randomPermutation(ds.n, mulberry32(seed));
  const d = ds.x.length / ds.n;
  const x = new Float32Array(ds.x.length);
  const y = new Int32Array(ds.n);
  order.forEach((src, i) => { x.set(ds.x.subarray(src * d, (src + 1) * d), i * d); y[i] = ds.y[src]; });
  return { ...ds, x, y };
}

async function trainOne(example: (typeof EXAMPLES)[number], seed: number, train: Dataset, test: Dataset): Promise<StateDict> {
  const graph = buildGraph(example.architecture);
  const state = initState(graph, seed);
  // engine-layout tensors: trainable roles as variables, BatchNorm running stats as plain tensors
  const loaded = loadModel(graph, state);
  const tensors = new Map<string, tf.Tensor>();
  const trainable: tf.Variable[] = [];
  for (const { param } of engineParams(graph)) {
    const t = loaded.tensors.get(param.tensor)!;
    if (param.buffer) { tensors.set(param.tensor, t); continue; }
    const v = tf.variable(t, true);
    t.dispose();
    tensors.set(param.tensor, v);
    trainable.push(v);
  }
  const model: EngineModel = { graph, tensors, dispose: () => tensors.forEach((t) => t.dispose()) };
  const optimizer = tf.train.adam(example.lr);
  let steps = 0;
  const started = Date.now();
  for (let epoch = 0; epoch < example.epochs; epoch++) {
    const data = shuffled(train, seed * 1000 + epoch);
    for (const batch of batches(data, example.batchSize)) {
      const running: [string, Float32Array, Float32Array, number][] = [];
      const x = inputTensor(graph, batch.x, batch.n);
      const labels = tf.oneHot(tf.tensor1d(batch.y, 'int32'), featuresOf(graph.byId.get(graph.output)!.shape));
      const loss = optimizer.minimize(() => {
        const logits = forward(model, x, {
          wrap: batchStatistics(graph, (node, s) => running.push([node.id, s.mean.dataSync() as Float32Array, s.variance.dataSync() as Float32Array, s.count])),
        });
        return tf.losses.softmaxCrossEntropy(labels, logits) as tf.Scalar;
      }, true, trainable);
      // PyTorch's BatchNorm update: momentum 0.1, unbiased batch variance
      for (const [id, mean, variance, count] of running) {
        const node = graph.byId.get(id)!;
        const roles = node.kind.runningStats!;
        const [mName, vName] = [node.params[roles.mean].tensor, node.params[roles.variance].tensor];
        const [m, v] = [tensors.get(mName)!, tensors.get(vName)!];
        tensors.set(mName, tf.tidy(() => tf.add(tf.mul(m, 0.9), tf.mul(tf.tensor1d(mean), 0.1))));
        tensors.set(vName, tf.tidy(() => tf.add(tf.mul(v, 0.9), tf.mul(tf.tensor1d(variance), (0.1 * count) / Math.max(count - 1, 1)))));
        m.dispose(); v.dispose();
      }
      steps++;
      if (steps % 100 === 0) console.log(`  ${example.name} seed ${seed} epoch ${epoch + 1} step ${steps} loss ${loss!.dataSync()[0].toFixed(4)} (${((Date.now() - started) / 1000).toFixed(0)}s)`);
      loss!.dispose(); x.dispose(); labels.dispose();
    }
  }
  optimizer.dispose();
  const out = exportState(model, state);
  for (const param of graph.nodes.flatMap((n) => Object.values(n.params))) {
    if (param.buffer === 'counter') out.set(param.tensor, { kind: 'int', dtype: 'I64', shape: [], bytes: new Uint8Array(new BigInt64Array([BigInt(steps)]).buffer) });
  }
  model.dispose();
  const r = evaluate(graph, out, test, 1000);
  console.log(`${example.name} seed ${seed}: test loss ${r.loss.toFixed(4)}, accuracy ${(100 * r.accuracy).toFixed(2)}% after ${steps} steps, ${((Date.now() - started) / 1000).toFixed(0)}s`);
  return out;
}

async function main() {
  const { values } = parseArgs({ options: { only: { type: 'string' }, seed: { type: 'string' } } });
  const backend = await initBackend({ hasGpuDevice: nodeHost.hasGpuDevice });
  console.log(`backend: ${backend.name}`);
  for (const example of EXAMPLES) {
    if (values.only && values.only !== example.name) continue;
    const train = await loadBuiltin(nodeHost.packageFiles, example.dataset, 'train', example.trainLimit);
    const test = await loadBuiltin(nodeHost.packageFiles, example.dataset, 'test');
    const dir = join(root, example.name);
    await mkdir(dir, { recursive: true });
    // --seed N trains one model of each pair (two processes can then share a machine's cores)
    for (const seed of values.seed ? [Number(values.seed)] : [1, 2]) {
      const state = await trainOne(example, seed, train, test);
      await writeSafetensorsFile(join(dir, `seed${seed}.safetensors`), state, { format: 'pt', producer: 'basin examples:train', seed: String(seed) });
    }
    const request = {
      models: [{ path: 'seed1.safetensors' }, { path: 'seed2.safetensors' }],
      architecture: example.architecture,
      data: { calibration: { builtin: example.dataset, split: 'train', limit: 5000 }, evaluation: { builtin: example.dataset, split: 'test' } },
      alignment: { method: example.alignment ?? 'weight', seed: 0 },
      repair: { method: 'auto' },
      sweep: { points: 11 },
    };
    await writeFile(join(dir, 'request.json'), JSON.stringify(request, null, 2) + '\n');
  }
}

await main();
