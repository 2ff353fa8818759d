import type * as Ort from 'onnxruntime-node';
import { batches, type Dataset } from '../io/datasets.ts';
import { engineDims, featuresOf, onnxDims, positionsOf, sizeOf, type FeatureShape } from '../layers/shape.ts';
import type { ModelGraph } from '../model/graph.ts';
import { OnnxBuilder } from '../model/onnxBuilder.ts';
import { BATCH, DATA_INPUT, dataInput, emitNodes, logitsDims, type OnnxWrapper } from '../model/onnxGraph.ts';
import type { StateDict } from '../model/tensor.ts';
import { ChannelMoments, CrossCorrelation } from '../stats.ts';
import { lossAndCorrectOf, REPAIR_EPS, tapId, type ActivationTap, type ForwardEngine } from './engine.ts';

/**
 * The passes on ONNX Runtime (onnxruntime-node, CPU). Each pass compiles the layer graph once per
 * architecture (model/onnxGraph.ts) into a session whose weights are inputs: every alpha, variant
 * and parent runs through the same session, fed the checkpoints' arrays as they are.
 *
 * Batches are as large as `memoryMB` allows (an estimate of the activations alive at once per
 * sample), so REPAIR and RESET see the whole calibration set as one batch wherever it fits, which
 * makes their single pass exact (see correct/repair.ts); evaluation's results do not depend on it.
 */
export interface OrtEngineOptions {
  /** intra-op threads (the machine's cores, or BASIN_THREADS) */
  threads: number;
  /** activations budget per pass, in MiB */
  memoryMB: number;
  /** execution providers, best first (default ['cpu']; the runner image adds 'cuda': see the Dockerfile) */
  providers?: string[];
}

/** Activations per batch of a streaming pass (see batchFor). */
const STREAM_BYTES = 256 * 2 ** 20;

type OrtModule = typeof Ort;
type Session = Ort.InferenceSession;
type Feeds = Record<string, Ort.Tensor>;

/** Load onnxruntime-node and check it computes a known answer; throws where it cannot load or is wrong. */
export async function ortEngine(options: OrtEngineOptions): Promise<ForwardEngine> {
  const mod = (await import('onnxruntime-node')) as OrtModule & { default?: OrtModule };
  const ort = mod.default ?? mod;
  const providers = options.providers?.length ? options.providers : ['cpu'];
  const sessionOptions: Ort.InferenceSession.SessionOptions = {
    executionProviders: providers,
    intraOpNumThreads: options.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    // idle pool threads sleep rather than spin: the engine's host-side work runs between passes
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  };
  await smokeTest(ort, sessionOptions);
  /** Sessions by graph and use, each compiled once, with what compiling learned: the shapes of the values it taps. */
  const sessions = new WeakMap<ModelGraph, Map<string, { session: Promise<Session>; shapes: Map<string, FeatureShape> }>>();
  const compiled = (graph: ModelGraph, key: string, build: (shapes: Map<string, FeatureShape>) => Uint8Array) => {
    let byKey = sessions.get(graph);
    if (!byKey) sessions.set(graph, (byKey = new Map()));
    let c = byKey.get(key);
    if (!c) {
      const shapes = new Map<string, FeatureShape>();
      c = { session: ort.InferenceSession.create(build(shapes), sessionOptions), shapes };
      byKey.set(key, c);
      c.session.catch(() => byKey.delete(key));
    }
    return c;
  };
  const session = (graph: ModelGraph, key: string, build: () => Uint8Array): Promise<Session> => compiled(graph, key, build).session;
  const budget = options.memoryMB * 2 ** 20;

  /** Feeds for a session's inputs: parameters from `states` by prefix, the rest from `extra`. */
  const feedsFor = (s: Session, states: Record<string, StateDict>, extra: Feeds = {}): Feeds => {
    const feeds: Feeds = { ...extra };
    for (const name of s.inputNames) {
      if (name === DATA_INPUT || name in feeds) continue;
      const prefix = Object.keys(states).find((p) => name.startsWith(p))!;
      const t = states[prefix].get(name.slice(prefix.length));
      if (!t || t.kind !== 'float') throw new Error(`tensor ${name.slice(prefix.length)} missing or not float`);
      feeds[name] = new ort.Tensor('float32', t.data, t.shape);
    }
    return feeds;
  };

  /** Stream the dataset through a session in batches of `batch`, handing each batch's outputs to `each`. */
  async function stream(s: Session, graph: ModelGraph, data: Dataset, batch: number, fixed: Feeds, each: (out: Record<string, Float32Array>, n: number, labels: Int32Array) => void, signal?: AbortSignal): Promise<void> {
    const dims = graph.layout === 'tfjs' ? engineDims(graph.input) : onnxDims(graph.input);
    for (const b of batches(data, batch)) {
      signal?.throwIfAborted();
      const out = await s.run({ ...fixed, [DATA_INPUT]: new ort.Tensor('float32', b.x, [b.n, ...dims]) });
      each(Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.data as Float32Array])), b.n, b.y);
    }
  }

  /**
   * Samples per batch. Streaming passes (evaluation, a parent's moments, correlations) take about
   * STREAM_BYTES of activations: larger batches gain nothing and run slower (cache). REPAIR's and
   * RESET's passes take as many as the budget holds: the whole calibration set makes them exact.
   */
  const batchFor = (graph: ModelGraph, data: Dataset, use: 'stream' | 'whole', copies = 1) => {
    const bytes = use === 'stream' ? Math.min(budget, STREAM_BYTES) : budget;
    return Math.max(1, Math.min(data.n, Math.floor(bytes / (copies * bytesPerSample(graph)))));
  };

  /** Moments of values (by node id) exposed as outputs `mean:` / `var:` (per sample), accumulated over the dataset. */
  const accumulate = (ids: Iterable<string>, shapeOf: (id: string) => FeatureShape) => {
    const acc = new Map([...ids].map((id) => [id, new ChannelMoments(featuresOf(shapeOf(id)))]));
    const add = (out: Record<string, Float32Array>, n: number) => {
      for (const [id, m] of acc) m.addGroups(out[`mean:${id}`], out[`var:${id}`], n, positionsOf(shapeOf(id)));
    };
    return { acc, add };
  };
  const nodeShape = (graph: ModelGraph) => (id: string) => graph.byId.get(id)!.shape;

  return {
    info: { name: 'onnxruntime', device: providers.join(','), threads: options.threads },

    async logits(graph, state, data, signal) {
      const s = await session(graph, 'logits', () => compile(graph, () => undefined));
      const classes = featuresOf(graph.byId.get(graph.output)!.shape);
      const out = new Float32Array(data.n * classes);
      let at = 0;
      await stream(s, graph, data, batchFor(graph, data, 'stream'), feedsFor(s, { '': state }), (o) => { out.set(o.logits, at); at += o.logits.length; }, signal);
      return out;
    },

    async evaluate(graph, state, data, signal) {
      const s = await session(graph, 'logits', () => compile(graph, () => undefined));
      const classes = featuresOf(graph.byId.get(graph.output)!.shape);
      let lossSum = 0;
      let correct = 0;
      await stream(s, graph, data, batchFor(graph, data, 'stream'), feedsFor(s, { '': state }), (out, _n, labels) => {
        const r = lossAndCorrectOf(out.logits, classes, labels);
        lossSum += r.lossSum;
        correct += r.correct;
      }, signal);
      return { loss: lossSum / data.n, accuracy: correct / data.n };
    },

    async moments(graph, state, nodes, data, signal) {
      const s = await session(graph, `moments:${nodes.join(',')}`, () => compile(graph, (b) => new Map(nodes.map((id) => [id, exposeMoments(b, id)]))));
      const { acc, add } = accumulate(nodes, nodeShape(graph));
      await stream(s, graph, data, batchFor(graph, data, 'stream'), feedsFor(s, { '': state }), add, signal);
      return acc;
    },

    async repairMoments(graph, state, targets, data, signal) {
      const ids = [...targets.keys()];
      const s = await session(graph, `repair:${ids.join(',')}`, () => compile(graph, (b) => new Map(ids.map((id) => [id, repairWrapper(b, id)]))));
      const extra: Feeds = {};
      for (const [id, t] of targets) {
        extra[`target-mean:${id}`] = new ort.Tensor('float32', Float32Array.from(t.mean), [t.mean.length]);
        extra[`target-std:${id}`] = new ort.Tensor('float32', Float32Array.from(t.std), [t.std.length]);
      }
      const { acc, add } = accumulate(ids, nodeShape(graph));
      await stream(s, graph, data, batchFor(graph, data, 'whole'), feedsFor(s, { '': state }, extra), add, signal);
      return acc;
    },

    async batchStatsMoments(graph, state, data, signal) {
      const bns = graph.nodes.filter((n) => n.kind.runningStats);
      const s = await session(graph, 'batchstats', () => compile(graph, (b) => new Map(bns.map((n) => [n.id, batchStatsWrapper(b)]))));
      // the statistics are of each BatchNorm's input
      const { acc, add } = accumulate(bns.map((n) => n.id), (id) => graph.byId.get(id)!.inputShapes[0]);
      await stream(s, graph, data, batchFor(graph, data, 'whole'), feedsFor(s, { '': state }), add, signal);
      return acc;
    },

    async correlations(graph, a, b, tapList, data, signal) {
      const ids = tapList.map(tapId);
      // the taps' shapes are known once the kinds have emitted them (inner activations' included)
      const pair = compiled(graph, `pair:${ids.join(',')}`, (shapes) => compilePair(graph, tapList, shapes));
      const [s, shapes] = [await pair.session, pair.shapes];
      const acc = new Map(ids.map((id) => [id, new CrossCorrelation(featuresOf(shapes.get(id)!))]));
      await stream(s, graph, data, batchFor(graph, data, 'stream', 2), feedsFor(s, { 'a/': a, 'b/': b }), (out, n) => {
        for (const [id, c] of acc) c.addBatch(n * positionsOf(shapes.get(id)!), out[`sa:${id}`], out[`sb:${id}`], out[`saa:${id}`], out[`sbb:${id}`], out[`sab:${id}`]);
      }, signal);
      return acc;
    },
  };
}

/** A graph with its logits as output `logits`, wrapped where `wrappers` says. */
function compile(graph: ModelGraph, wrappers: (b: OnnxBuilder) => Map<string, OnnxWrapper> | undefined): Uint8Array {
  const b = new OnnxBuilder();
  const values = emitNodes(b, graph, dataInput(b, graph), { wrap: wrappers(b) });
  b.output('logits', values.get(graph.output)!, logitsDims(graph));
  return b.encode('basin');
}

/**
 * Expose a value's per-sample, per-channel moments as outputs `mean:id` and `var:id` ([N, C]; no
 * variance for flat values), which the host combines in Float64; returns them for the graph's use.
 */
function exposeSampleMoments(b: OnnxBuilder, id: string, value: string, shape: FeatureShape): { mean: string; variance?: string } {
  const samples = b.sampleMoments(value, shape);
  const c = featuresOf(shape);
  b.output(`mean:${id}`, b.rows(samples.mean, c), [BATCH, c]);
  if (samples.variance) b.output(`var:${id}`, b.rows(samples.variance, c), [BATCH, c]);
  return samples;
}

/** The node's output unchanged, its moments exposed (a parent's REPAIR statistics). */
const exposeMoments = (b: OnnxBuilder, id: string): OnnxWrapper => ({ node, run }) => {
  const y = run();
  exposeSampleMoments(b, id, y, node.shape);
  return y;
};

/** REPAIR's wrapper (as tfjsEngine's): normalised with the batch's moments (exposed), then the target's mean and std, graph inputs. */
const repairWrapper = (b: OnnxBuilder, id: string): OnnxWrapper => ({ node, run }) => {
  const raw = run();
  const m = b.batchMoments(exposeSampleMoments(b, id, raw, node.shape));
  const c = featuresOf(node.shape);
  const normed = b.op('Div', [b.op('Sub', [raw, m.mean]), b.op('Sqrt', [b.op('Add', [m.variance, b.constant([REPAIR_EPS])])])]);
  const std = b.perChannel(b.input(`target-std:${id}`, [c]), node.shape);
  const mean = b.perChannel(b.input(`target-mean:${id}`, [c]), node.shape);
  return b.op('Add', [b.op('Mul', [normed, std]), mean]);
};

/** RESET's wrapper: a kind with running statistics normalising with its batch's moments of its input (exposed). */
const batchStatsWrapper = (b: OnnxBuilder): OnnxWrapper => ({ node, ctx }) => {
  const stats = b.batchMoments(exposeSampleMoments(b, node.id, ctx.inputs[0], ctx.inputShapes[0]));
  return node.kind.runningStats!.onnxWithBatchStats(ctx, stats);
};

/**
 * Two models on the same batch in one graph (parameters 'a/...' and 'b/...'); per tap (a node's
 * output, or an inner activation its kind shows) the sums Pearson's correlation needs, each
 * position a row: sum a, sum b, sum a^2, sum b^2 and a^T b. Records each tap's shape in `shapes`.
 */
function compilePair(graph: ModelGraph, tapList: readonly ActivationTap[], shapes: Map<string, FeatureShape>): Uint8Array {
  const b = new OnnxBuilder();
  const x = dataInput(b, graph);
  const innerKeys = new Map<string, Set<string>>();
  for (const t of tapList) if (t.key !== undefined) innerKeys.set(t.node, (innerKeys.get(t.node) ?? new Set()).add(t.key));
  const emit = (prefix: string) => {
    const inner = new Map<string, { value: string; shape: FeatureShape }>();
    const listeners = new Map([...innerKeys].map(([node, keys]) => [node, (key: string, value: string, shape: FeatureShape) => {
      if (keys.has(key)) inner.set(tapId({ node, key }), { value, shape });
    }]));
    const values = emitNodes(b, graph, x, { prefix, inner: listeners });
    const tapped = (t: ActivationTap) => (t.key === undefined ? { value: values.get(t.node)!, shape: graph.byId.get(t.node)!.shape } : inner.get(tapId(t))!);
    return { values, tapped };
  };
  const [ea, eb] = [emit('a/'), emit('b/')];
  const axis0 = b.constant([0], [1], 'int64');
  for (const t of tapList) {
    const id = tapId(t);
    const [ta, tb] = [ea.tapped(t), eb.tapped(t)];
    if (!ta) throw new Error(`layer "${t.node}" shows no inner activation "${t.key}" on ONNX`);
    shapes.set(id, ta.shape);
    const c = featuresOf(ta.shape);
    const rows = (v: string) => b.op('Reshape', [ta.shape.kind === 'map' ? b.op('Transpose', [v], { perm: [0, 2, 3, 1] }) : v, b.constant([-1, c], [2], 'int64')]);
    const [ya, yb] = [rows(ta.value), rows(tb.value)];
    const sum = (v: string) => b.op('ReduceSum', [v, axis0], { keepdims: 0 });
    b.output(`sa:${id}`, sum(ya), [c]);
    b.output(`sb:${id}`, sum(yb), [c]);
    b.output(`saa:${id}`, sum(b.op('Mul', [ya, ya])), [c]);
    b.output(`sbb:${id}`, sum(b.op('Mul', [yb, yb])), [c]);
    b.output(`sab:${id}`, b.op('MatMul', [b.op('Transpose', [ya], { perm: [1, 0] }), yb]), [c, c]);
  }
  // the logits keep both nets whole (ONNX Runtime prunes what no output reads)
  b.output('logits-a', ea.values.get(graph.output)!, logitsDims(graph));
  b.output('logits-b', eb.values.get(graph.output)!, logitsDims(graph));
  return b.encode('basin-pair');
}

/**
 * Bytes of activations per sample a pass holds at its peak: each node's output lives until its
 * last reader (as ONNX Runtime's planner frees it), with what a kind holds besides while it runs
 * (LayerKind.scratch: attention's scores), three times over for the kinds' temporaries and the
 * statistics' copies, plus the input.
 */
export function bytesPerSample(graph: ModelGraph): number {
  const lastUse = new Map<string, number>();
  for (const node of graph.nodes) for (const src of node.inputs) lastUse.set(src, node.index);
  const live = new Map<string, number>([['input', sizeOf(graph.input)]]);
  let peak = 0;
  for (const node of graph.nodes) {
    live.set(node.id, sizeOf(node.shape));
    const scratch = node.kind.scratch?.({ layer: node.layer, inputShapes: node.inputShapes, shape: node.shape }) ?? 0;
    peak = Math.max(peak, [...live.values()].reduce((a, v) => a + v, 0) + scratch);
    for (const src of node.inputs) if (lastUse.get(src) === node.index && src !== 'input') live.delete(src);
  }
  return 4 * (3 * peak + sizeOf(graph.input));
}

/** A small Gemm with a known answer, on the options the engine will use. */
async function smokeTest(ort: OrtModule, options: Ort.InferenceSession.SessionOptions): Promise<void> {
  const b = new OnnxBuilder();
  const y = b.op('Gemm', [b.input('x', [BATCH, 3]), b.input('w', [2, 3]), b.input('c', [2])], { transB: 1 });
  b.output('y', y, [BATCH, 2]);
  const s = await ort.InferenceSession.create(b.encode('smoke'), options);
  try {
    const out = await s.run({
      x: new ort.Tensor('float32', Float32Array.of(1, 2, 3, 4, 5, 6), [2, 3]),
      w: new ort.Tensor('float32', Float32Array.of(1, 0, -1, 0.5, 2, 0), [2, 3]),
      c: new ort.Tensor('float32', Float32Array.of(10, 20), [2]),
    });
    const got = Array.from(out.y.data as Float32Array);
    const want = [8, 24.5, 8, 32];
    if (!want.every((v, i) => Math.abs(got[i] - v) < 1e-5)) throw new Error(`ONNX Runtime smoke test failed: got [${got}], want [${want}]`);
  } finally {
    await s.release();
  }
}
