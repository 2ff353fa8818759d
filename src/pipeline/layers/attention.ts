import * as tf from '@tensorflow/tfjs-core';
import type { AttentionLayer, Layout } from '../../contracts/index.ts';
import { AFFINE_NAMES, onnxDense } from './affine.ts';
import type { InferContext, LayerKind, OpContext } from './kind.ts';
import { describeShape, flat } from './shape.ts';

/**
 * Multi-head self-attention on tokens [T, D]: q, k, v projections (one fused [3D, D] weight, rows q,
 * k, v and each head-major, as timm's `qkv.reshape(B, N, 3, H, d).permute(2, 0, 3, 1, 4)` reads
 * them; or three separate ones), softmax(q k^T / sqrt(d)) v per head, the heads concatenated in
 * order, then the output projection.
 *
 * Symmetries (DESIGN 4.1): the input and the output are the stream's features; inside, one space
 * for the q and k units (they meet in a dot product, so one permutation acts on both) and one for
 * the v units (and the output projection's inputs), tied as H blocks of d: heads move as wholes,
 * and inside a head each space has its own permutation.
 */

/** Module paths of the projections under the layer's name, per mode: timm's and Hugging Face ViT's. */
const DEFAULT_NAMES = {
  fused: { qkv: 'qkv', proj: 'proj' },
  separate: { q: 'attention.query', k: 'attention.key', v: 'attention.value', proj: 'output.dense' },
} as const;

type Projection = 'qkv' | 'q' | 'k' | 'v' | 'proj';

/** The projections this layer reads, each with its module path. */
function projections(layer: AttentionLayer): { role: Projection; path: string }[] {
  const names: Partial<Record<Projection, string>> = { ...DEFAULT_NAMES[layer.qkv], ...layer.names };
  const roles: Projection[] = layer.qkv === 'fused' ? ['qkv', 'proj'] : ['q', 'k', 'v', 'proj'];
  return roles.map((role) => ({ role, path: names[role]! }));
}

const biasRole = (role: Projection) => `${role}Bias`;
const hasBias = (layer: AttentionLayer, role: Projection) => (role === 'proj' ? layer.projBias : layer.qkvBias);
/** A projection's weight axes in the checkpoint: PyTorch [out, in], tfjs [in, out]. */
const outAxis = (layout: Layout) => (layout === 'pytorch' ? 0 : 1);

/** Declares every projection like a linear layer of `rows` outputs: Kaiming-uniform, as PyTorch's Linear starts. */
function declareProjections(ctx: InferContext<AttentionLayer>, d: number): void {
  const sep = ctx.layout === 'pytorch' ? '.' : '/';
  const names = AFFINE_NAMES[ctx.layout];
  const init = { uniform: 1 / Math.sqrt(d) };
  for (const { role, path } of projections(ctx.layer)) {
    const prefix = path.split('.').join(sep) + sep;
    const rows = role === 'qkv' ? 3 * d : d;
    const pytorch = ctx.layout === 'pytorch';
    ctx.param(role, { suffix: prefix + names.weight, shape: pytorch ? [rows, d] : [d, rows], toEngine: pytorch ? [1, 0] : undefined, init });
    if (hasBias(ctx.layer, role)) ctx.param(biasRole(role), { suffix: prefix + names.bias, shape: [rows], init });
  }
}

/** Scores per chunk of the batch: [chunk, H, T, T] floats at most this many (64 MiB), so memory is bounded whatever the batch. */
const SCORE_BUDGET = 1 << 24;

/**
 * softmax(q k^T / sqrt(d) [+ causal mask]) v for q, k, v as [N, H, T, d], over chunks of the batch.
 * Each chunk is its own tidy scope, so only one chunk's scores are alive at a time.
 */
export function attend(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, causal: boolean, budget = SCORE_BUDGET): tf.Tensor4D {
  const [n, h, t, d] = q.shape;
  const chunk = Math.max(1, Math.floor(budget / (h * t * t)));
  // -1e9 rather than -Infinity: exp underflows to exactly 0 either way, and no inf reaches a gradient
  const mask = causal ? tf.tidy(() => tf.mul(tf.sub(1, tf.linalg.bandPart(tf.ones([t, t]), -1, 0)), -1e9)) : undefined;
  const parts: tf.Tensor[] = [];
  try {
    for (let start = 0; start < n; start += chunk) {
      const size = Math.min(chunk, n - start);
      parts.push(tf.tidy(() => {
        const take = (x: tf.Tensor4D) => (size === n ? x : tf.slice(x, [start, 0, 0, 0], [size, h, t, d]));
        let scores: tf.Tensor = tf.matMul(tf.mul(take(q), 1 / Math.sqrt(d)), take(k), false, true);
        if (mask) scores = tf.add(scores, mask);
        return tf.matMul(tf.softmax(scores), take(v));
      }));
    }
    return (parts.length === 1 ? parts[0] : tf.concat(parts, 0)) as tf.Tensor4D;
  } finally {
    mask?.dispose();
    if (parts.length > 1) parts.forEach((p) => p.dispose());
  }
}

function project(ctx: OpContext<AttentionLayer>, x: tf.Tensor2D, role: Projection): tf.Tensor {
  const y = tf.matMul(x, ctx.param(role) as tf.Tensor2D);
  return ctx.has(biasRole(role)) ? tf.add(y, ctx.param(biasRole(role))) : y;
}

export const attention: LayerKind<AttentionLayer> = {
  arity: 'one',
  infer(ctx) {
    const input = ctx.inputs[0];
    if (input.kind !== 'tokens') return ctx.fail('bad_graph', `input has shape ${describeShape(input)}; attention needs tokens`);
    const d = input.features;
    if (d % ctx.layer.heads !== 0) return ctx.fail('bad_architecture', `${d} features do not split into ${ctx.layer.heads} heads`);
    declareProjections(ctx, d);
    return input;
  },
  op(ctx) {
    const { layer, inputs: [x] } = ctx;
    const [n, t, d] = x.shape as [number, number, number];
    const h = layer.heads;
    const rows = tf.reshape(x, [n * t, d]) as tf.Tensor2D;
    const [q, k, v] = layer.qkv === 'fused' ? tf.split(project(ctx, rows, 'qkv'), 3, 1) : (['q', 'k', 'v'] as const).map((r) => project(ctx, rows, r));
    if (ctx.inner) for (const [key, y] of [['q', q], ['k', k], ['v', v]] as const) ctx.inner(key, tf.reshape(y, [n, t, d]));
    const heads = (y: tf.Tensor) => tf.transpose(tf.reshape(y, [n, t, h, d / h]), [0, 2, 1, 3]) as tf.Tensor4D;
    const context = tf.reshape(tf.transpose(attend(heads(q), heads(k), heads(v), layer.causal), [0, 2, 1, 3]), [n * t, d]) as tf.Tensor2D;
    return tf.reshape(project(ctx, context, 'proj'), [n, t, d]);
  },
  onnx(ctx) {
    const { layer, inputs: [x], inputShapes: [input], op, constant } = ctx;
    const [t, d] = input.kind === 'tokens' ? [input.tokens, input.features] : [0, 0];
    const h = layer.heads;
    const dh = d / h;
    const dims = (values: number[]) => constant(values, [values.length], 'int64');
    const project = (rows: string, role: Projection, out: number) => onnxDense(ctx, rows, flat(d), out, role, biasRole(role));
    const rows = op('Reshape', [x, dims([-1, d])]);
    let q: string, k: string, v: string;
    if (layer.qkv === 'fused') {
      const qkv = project(rows, 'qkv', 3 * d);
      [q, k, v] = [0, 1, 2].map((i) => op('Slice', [qkv, dims([i * d]), dims([(i + 1) * d]), dims([1])]));
    } else {
      [q, k, v] = (['q', 'k', 'v'] as const).map((role) => project(rows, role, d));
    }
    const asTokens = (y: string) => op('Reshape', [y, dims([-1, t, d])]);
    if (ctx.inner) for (const [key, y] of [['q', q], ['k', k], ['v', v]] as const) ctx.inner(key, asTokens(y), input);
    // [N*T, D] -> [N, H, T, d], and k straight to [N, H, d, T]
    const split = (y: string) => op('Reshape', [y, dims([-1, t, h, dh])]);
    const heads = (y: string) => op('Transpose', [split(y)], { perm: [0, 2, 1, 3] });
    let scores = op('MatMul', [op('Mul', [heads(q), constant([1 / Math.sqrt(dh)])]), op('Transpose', [split(k)], { perm: [0, 2, 3, 1] })]);
    if (layer.causal) {
      // as the op: -1e9 above the diagonal (token i sees tokens j <= i)
      const mask = Array.from({ length: t * t }, (_, at) => (at % t > Math.floor(at / t) ? -1e9 : 0));
      scores = op('Add', [scores, constant(mask, [t, t])]);
    }
    const context = op('MatMul', [op('Softmax', [scores], { axis: 3 }), heads(v)]);
    return asTokens(project(op('Reshape', [op('Transpose', [context], { perm: [0, 2, 1, 3] }), dims([-1, d])]), 'proj', d));
  },
  // per sample: the scores and their softmax, and q, k, v with their per-head copies
  scratch: ({ layer, shape }) => (shape.kind === 'tokens' ? 2 * layer.heads * shape.tokens * shape.tokens + 6 * shape.tokens * shape.features : 0),
  permute(ctx) {
    const { layout, inputs: [stream] } = ctx;
    const d = ctx.shape.kind === 'tokens' ? ctx.shape.features : 0;
    const [qk, v, out] = [ctx.open(d), ctx.open(d), ctx.open(d)];
    const rowsIn = (role: Projection, p: typeof qk, offset?: number) => {
      ctx.act(role, outAxis(layout), p, offset);
      if (ctx.has(biasRole(role))) ctx.act(biasRole(role), 0, p, offset);
    };
    const inAxis = 1 - outAxis(layout);
    if (ctx.layer.qkv === 'fused') {
      rowsIn('qkv', qk, 0);
      rowsIn('qkv', qk, d);
      rowsIn('qkv', v, 2 * d);
      ctx.act('qkv', inAxis, stream);
    } else {
      rowsIn('q', qk);
      rowsIn('k', qk);
      rowsIn('v', v);
      for (const role of ['q', 'k', 'v'] as const) ctx.act(role, inAxis, stream);
    }
    ctx.act('proj', inAxis, v);
    rowsIn('proj', out);
    ctx.block({ spaces: [qk, v], groups: ctx.layer.heads, groupSize: d / ctx.layer.heads });
    ctx.inner('q', qk);
    ctx.inner('k', qk);
    ctx.inner('v', v);
    return out;
  },
  repair: { nets: 'plain', fold: (layout) => ({ scale: { role: 'proj', axis: outAxis(layout) }, shift: 'projBias' }) },
};
