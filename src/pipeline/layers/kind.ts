import type * as tf from '@tensorflow/tfjs-core';
import type { Layer, LayerType, Layout } from '../../contracts/index.ts';
import type { ModelErrorCode } from '../errors.ts';
import type { ChannelStats } from './moments.ts';
import { describeShape, type FeatureShape } from './shape.ts';

/**
 * A layer kind is one module that declares everything the engine needs to know about it (DESIGN
 * 4.1). Its zod schema is its own file under src/contracts/layers/ (the edge validates
 * architectures without the engine) and types the module; the registry (layers/index.ts) maps each
 * `type` to its module, and the graph builder, the forward interpreter, spec inference,
 * initialisation, REPAIR's site choice and activation matching's taps are loops over it.
 *
 * Engine tensors are features last whatever the checkpoint layout ([N, D], [N, H, W, C],
 * [N, T, D]); each parameter declares how its checkpoint axes map onto the engine's, once.
 */
export interface LayerKind<L extends Layer = Layer> {
  /** 'one' input, or 'many' (two or more, as `add`) */
  arity: 'one' | 'many';
  /**
   * Shape inference: the output shape from the input shapes, declaring each parameter the layer
   * reads with its checkpoint shape. Sizes the inputs do not fix (output channels, kernel sizes)
   * come from the checkpoint, or without one (a fresh model) from hints in the architecture.
   */
  infer(ctx: InferContext<L>): FeatureShape;
  /**
   * The op on engine tensors. It is also the differentiable op: it must be built from tfjs ops that
   * have gradients, and the learned alignments (ste, sinkhorn) run it unchanged on the gradient tape
   * over parameters transposed on that tape (model/differentiable.ts).
   */
  op(ctx: OpContext<L>): tf.Tensor;
  /**
   * Permutation role (DESIGN 4.2): where the output's features live, and which parameter axes each
   * space acts on. Opens a space (linear, conv), passes the input's through (norms, activations,
   * pools), unites its inputs' (add), spreads a channel over positions (flatten), lets a parameter
   * axis join the input's space (a class token), or opens block-structured spaces (attention heads).
   */
  permute(ctx: PermContext<L>): Placement;
  /**
   * Activation matching's choice of what represents a space: the outputs of 'nonlinearity' kinds,
   * failing those of 'join' kinds (a residual stream's adds), failing those the space's last node.
   */
  tap?: 'nonlinearity' | 'join';
  /** Where REPAIR corrects this kind's output and folds the correction (DESIGN 4.4). */
  repair?: RepairSite;
  /** Kinds with running statistics (BatchNorm): what RESET re-estimates, and how. */
  runningStats?: RunningStats<L>;
  /**
   * The same op as ONNX node(s), for the ONNX Runtime engine (model/onnxGraph.ts compiles a graph
   * once per architecture from these). Activations there are channels-first ([N, D], [N, C, H, W],
   * [N, T, D]: ONNX's own order for maps) and parameters are graph inputs in checkpoint layout, so
   * a checkpoint's arrays are fed as they are. Returns the output's value name.
   */
  onnx(ctx: OnnxContext<L>): string;
  /**
   * Values per sample the op holds at its peak besides its inputs and output (attention's scores),
   * for the engines' batch sizing; absent: none worth counting.
   */
  scratch?(ctx: { layer: L; inputShapes: FeatureShape[]; shape: FeatureShape }): number;
}

/** How a fresh checkpoint fills a parameter (PyTorch's defaults): a constant, or uniform on [-bound, bound]. */
export type ParamInit = { fill: number } | { uniform: number };

/** A parameter a layer reads, as its kind declares it during shape inference. */
export interface ParamDecl {
  /** the tensor name after the layer's `name` and the layout's separator: 'weight', 'kernel', 'running_mean'; '' is the name itself */
  suffix: string;
  /** shape in the checkpoint's layout */
  shape: number[];
  /** engine axis i is checkpoint axis toEngine[i] (absent: the same order); the way back is its inverse */
  toEngine?: number[];
  init: ParamInit;
  /** not a learned weight: a 'statistic' (measured, as running means) or a 'counter' (an integer buffer, copied through) */
  buffer?: 'statistic' | 'counter';
  /** may be absent from a checkpoint */
  optional?: boolean;
}

/** A declared parameter with its role and full tensor name. */
export interface NodeParam extends ParamDecl {
  role: string;
  tensor: string;
}

export interface InferContext<L extends Layer> {
  layer: L;
  layout: Layout;
  inputs: FeatureShape[];
  /** the full tensor name of this layer's `suffix` (its `name`, the layout's separator, the suffix) */
  tensorName(suffix: string): string;
  /**
   * The checkpoint's shape of this layer's tensor `suffix`: undefined without a checkpoint; a
   * checkpoint that lacks it is a `missing_tensor` error.
   */
  checkpointShape(suffix: string): number[] | undefined;
  /** Declare a parameter under `role`; checked against the checkpoint (missing_tensor, shape_mismatch). */
  param(role: string, decl: ParamDecl): void;
  /** A model error about this layer: the message is prefixed with `layer "id" (type): `. */
  fail(code: ModelErrorCode, message: string): never;
}

export interface OpContext<L extends Layer> {
  layer: L;
  layout: Layout;
  inputs: tf.Tensor[];
  /** a parameter of this layer in engine layout */
  param(role: string): tf.Tensor;
  has(role: string): boolean;
  /**
   * Present when the pass watches this node's inner activations (activation matching): the op shows
   * each one it declared with PermContext.inner, features last, before going on.
   */
  inner?(key: string, y: tf.Tensor): void;
}

/** An ONNX attribute value: numbers are ints unless `float` says otherwise; strings; int lists. */
export type OnnxAttr = number | string | number[] | { float: number };

export interface OnnxContext<L extends Layer> {
  layer: L;
  layout: Layout;
  /** the inputs' value names, channels first */
  inputs: string[];
  inputShapes: FeatureShape[];
  /** this layer's output shape */
  shape: FeatureShape;
  /** the graph input holding parameter `role`, in checkpoint layout (its declared `shape`) */
  param(role: string): string;
  /** parameter `role`'s declared shape (checkpoint layout) */
  paramShape(role: string): number[];
  has(role: string): boolean;
  /** add a node of ONNX operator `type` (default domain, the opset of model/onnxBuilder.ts); returns its output */
  op(type: string, inputs: string[], attrs?: Record<string, OnnxAttr>): string;
  /** a [C] vector shaped to broadcast over the channels of a value of `shape` ([C, 1, 1] on maps) */
  perChannel(vector: string, shape: FeatureShape): string;
  /** a constant (a scalar when `dims` is absent); float unless 'int64' (shapes, indices) */
  constant(values: number[], dims?: number[], type?: 'float' | 'int64'): string;
  /**
   * Present when the pass watches this node's inner activations (activation matching): the kind
   * shows each one it declared with PermContext.inner, as a value of `shape` (features last).
   */
  inner?(key: string, value: string, shape: FeatureShape): void;
}

/** Where a node's output features live: a permutation space and how a flatten spread it. */
export interface Placement {
  /** a space handle; spaces united later are one */
  space: number;
  /** entries per channel on a flat axis: 1, or H*W after a flatten of a map */
  repeat: number;
  /** channel index before its block of `repeat` (PyTorch's NCHW flatten) or after it (tfjs's NHWC) */
  channelMajor: boolean;
}

export interface PermContext<L extends Layer> {
  layer: L;
  layout: Layout;
  inputs: Placement[];
  inputShapes: FeatureShape[];
  /** this layer's output shape */
  shape: FeatureShape;
  has(role: string): boolean;
  /** a new space of `size` channels */
  open(size: number): Placement;
  /** the spaces of a and b are one permutation (a residual stream) */
  unite(a: Placement, b: Placement): void;
  /**
   * Axis `axis` (checkpoint layout) of parameter `role` is permuted by p's space, spread as p is.
   * `offset`: where the space's entries start on that axis, for a tensor that holds several spaces
   * side by side (a fused q/k/v weight: q rows at 0, k rows at D, v rows at 2D).
   */
  act(role: string, axis: number, p: Placement, offset?: number): void;
  /**
   * Spaces whose permutations must be a permutation of `groups` blocks shared by all of them,
   * composed with a permutation of the `groupSize` units inside each block, each space its own
   * (attention: the heads, and per head the q/k units and the v units).
   */
  block(constraint: { spaces: Placement[]; groups: number; groupSize: number }): void;
  /**
   * The op computes an inner activation `key` whose features live in p's space (attention's q, k and
   * v): what activation matching taps for spaces that no node's output represents.
   */
  inner(key: string, p: Placement): void;
}

export interface RepairSite {
  /** which nets REPAIR corrects at this kind: nets without running statistics ('plain'), or with them ('batchnorm') */
  nets: 'plain' | 'batchnorm';
  /** the parameters (by role) that absorb a per-channel gain, on `axis` of `scale`, and a per-channel shift */
  fold(layout: Layout): { scale: { role: string; axis: number }; shift: string };
}

export interface RunningStats<L extends Layer> {
  /** roles of the running mean and the (unbiased) running variance */
  mean: string;
  variance: string;
  /** the op normalising with one batch's statistics instead (PyTorch's train mode) */
  withBatchStats(ctx: OpContext<L>, stats: ChannelStats): tf.Tensor;
  /** the same as ONNX nodes; `stats` are the batch's moments of the input, broadcastable to it */
  onnxWithBatchStats(ctx: OnnxContext<L>, stats: { mean: string; variance: string }): string;
}

/** The layer of `type`: the schema's type narrowed (maxpool and avgpool share one schema). */
export type LayerOf<T extends LayerType> = Layer & { type: T };

/** The input of a kind that needs a feature map (pools): `bad_graph` otherwise. */
export function mapInput(ctx: InferContext<Layer>): Extract<FeatureShape, { kind: 'map' }> {
  const input = ctx.inputs[0];
  if (input.kind !== 'map') return ctx.fail('bad_graph', `needs a [C, H, W] input, got ${describeShape(input)}`);
  return input;
}

/** Shape inference of kinds whose output is shaped as their (first) input. */
export const keepShape = (ctx: { inputs: FeatureShape[] }): FeatureShape => ctx.inputs[0];
/** Permutation role of kinds whose output lives where their (first) input does. */
export const keepSpace = (ctx: { inputs: Placement[] }): Placement => ctx.inputs[0];
