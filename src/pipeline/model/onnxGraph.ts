import type { OnnxContext } from '../layers/kind.ts';
import { onnxDims } from '../layers/shape.ts';
import type { GraphNode, ModelGraph } from './graph.ts';
import { OnnxBuilder, type Dim } from './onnxBuilder.ts';

/**
 * A layer graph as an ONNX graph: each node's kind declares its ONNX node(s) (LayerKind.onnx),
 * compiled here once per architecture and use. Weights are graph inputs, never initialisers, so
 * one ONNX Runtime session serves every alpha and every variant: a checkpoint's arrays are fed as
 * they are (checkpoint layout). Intermediate values are exposed to statistics through wrappers,
 * as in the tfjs forward pass (model/forward.ts).
 */

/** The batch dimension's name in every compiled graph. */
export const BATCH: Dim = 'N';
/** The data input's name: samples in the layout's order, as datasets hold them. */
export const DATA_INPUT = 'x';

/**
 * One node's emission, as a wrapper sees it: its input values, the builder, and `run`, which
 * emits the kind's own nodes. A wrapper returns the value that stands for the node's output: it
 * may expose statistics of `run()`'s value, normalise it, or emit another op (RESET's BatchNorm
 * with batch statistics).
 */
export interface OnnxCall {
  node: GraphNode;
  builder: OnnxBuilder;
  ctx: OnnxContext<GraphNode['layer']>;
  run(): string;
}
export type OnnxWrapper = (call: OnnxCall) => string;

export interface EmitOptions {
  /** graph-input prefix of this model's parameters (two models in one graph: 'a/' and 'b/') */
  prefix?: string;
  wrap?: ReadonlyMap<string, OnnxWrapper>;
  /** per node id, what receives the inner activations its kind shows (OnnxContext.inner) */
  inner?: ReadonlyMap<string, NonNullable<OnnxContext<GraphNode['layer']>['inner']>>;
}

/** The data input, declared in the layout's order and turned channels-first. */
export function dataInput(b: OnnxBuilder, graph: ModelGraph): string {
  const s = graph.input;
  if (s.kind === 'map' && graph.layout === 'tfjs') {
    const x = b.input(DATA_INPUT, [BATCH, s.height, s.width, s.channels]);
    return b.op('Transpose', [x], { perm: [0, 3, 1, 2] });
  }
  return b.input(DATA_INPUT, [BATCH, ...onnxDims(s)]);
}

/** The graph input name of a parameter tensor. */
export const paramInput = (prefix: string, tensor: string): string => `${prefix}${tensor}`;

/** Emit every node of the graph reading `x`; returns each node's value. */
export function emitNodes(b: OnnxBuilder, graph: ModelGraph, x: string, options: EmitOptions = {}): Map<string, string> {
  const prefix = options.prefix ?? '';
  const values = new Map<string, string>([['input', x]]);
  for (const node of graph.nodes) {
    const ctx: OnnxContext<GraphNode['layer']> = {
      layer: node.layer,
      layout: graph.layout,
      inputs: node.inputs.map((id) => values.get(id)!),
      inputShapes: node.inputShapes,
      shape: node.shape,
      param: (role) => {
        const p = node.params[role];
        return b.input(paramInput(prefix, p.tensor), p.shape);
      },
      paramShape: (role) => node.params[role].shape,
      has: (role) => Object.hasOwn(node.params, role),
      op: (type, inputs, attrs) => b.op(type, inputs, attrs),
      perChannel: (v, shape) => b.perChannel(v, shape),
      constant: (v, dims, type) => b.constant(v, dims, type),
      ...(options.inner?.has(node.id) ? { inner: options.inner.get(node.id)! } : {}),
    };
    const run = () => node.kind.onnx(ctx);
    const wrapper = options.wrap?.get(node.id);
    values.set(node.id, wrapper ? wrapper({ node, builder: b, ctx, run }) : run());
  }
  return values;
}

/** The logits output's dimensions. */
export function logitsDims(graph: ModelGraph): Dim[] {
  return [BATCH, ...onnxDims(graph.byId.get(graph.output)!.shape)];
}
