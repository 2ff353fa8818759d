import onnxProto from 'onnx-proto';
import type { onnx as Onnx } from 'onnx-proto';
import type { OnnxAttr } from '../layers/kind.ts';
import type { FeatureShape } from '../layers/shape.ts';

const { onnx } = onnxProto;

/**
 * Writes one ONNX model (ModelProto bytes, through onnx-proto's protobuf definitions). Values are
 * named by the builder; graph inputs and outputs keep the names their callers give them. Opset 17:
 * every operator used here has had its current form since 13, and ONNX Runtime 1.30 runs it.
 */
export const OPSET = 17;
const IR_VERSION = 8;
const { FLOAT, INT64 } = onnx.TensorProto.DataType;

/** A dimension: a size, or a name for one fixed only when the model runs (the batch). */
export type Dim = number | string;

export class OnnxBuilder {
  private readonly nodes: Onnx.INodeProto[] = [];
  private readonly inputs: Onnx.IValueInfoProto[] = [];
  private readonly outputs: Onnx.IValueInfoProto[] = [];
  private readonly initializers: Onnx.ITensorProto[] = [];
  private readonly inputNames = new Set<string>();
  private count = 0;

  /** A fresh value name (never a graph input's: those are the callers', prefixed by them). */
  fresh(hint = 'v'): string {
    return `%${hint}${this.count++}`;
  }

  /** A float graph input. */
  input(name: string, dims: readonly Dim[]): string {
    if (this.inputNames.has(name)) return name;
    this.inputNames.add(name);
    this.inputs.push(valueInfo(name, dims, FLOAT));
    return name;
  }

  /** Expose value `value` as graph output `name` (an Identity node when the names differ). */
  output(name: string, value: string, dims: readonly Dim[]): void {
    if (name !== value) this.nodes.push({ opType: 'Identity', input: [value], output: [name] });
    this.outputs.push(valueInfo(name, dims, FLOAT));
  }

  op(type: string, inputs: string[], attrs: Record<string, OnnxAttr> = {}): string {
    const out = this.fresh();
    this.nodes.push({ opType: type, input: inputs, output: [out], attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)) });
    return out;
  }

  constant(values: number[], dims: number[] = [], type: 'float' | 'int64' = 'float'): string {
    const name = this.fresh('c');
    this.initializers.push(type === 'float'
      ? { name, dims, dataType: FLOAT, floatData: values }
      : { name, dims, dataType: INT64, int64Data: values });
    return name;
  }

  /** A [C] vector reshaped to broadcast over the channel axis of a value of `shape` (axis 1 of an NCHW map; the last elsewhere). */
  perChannel(vector: string, shape: FeatureShape): string {
    if (shape.kind !== 'map') return vector;
    return this.op('Reshape', [vector, this.constant([-1, 1, 1], [3], 'int64')]);
  }

  /**
   * Per-sample, per-channel moments of `value` over each sample's positions (H*W of a map, T of a
   * token sequence), kept broadcastable: a flat value is its own mean, with no variance. Reducing a
   * sample at a time keeps float32 sums short (a whole batch of maps is millions of values).
   */
  sampleMoments(value: string, shape: FeatureShape): { mean: string; variance?: string } {
    if (shape.kind === 'flat') return { mean: value };
    const axes = shape.kind === 'map' ? [2, 3] : [1];
    const mean = this.op('ReduceMean', [value], { axes, keepdims: 1 });
    const centred = this.op('Sub', [value, mean]);
    return { mean, variance: this.op('ReduceMean', [this.op('Mul', [centred, centred])], { axes, keepdims: 1 }) };
  }

  /** The batch's per-channel mean and (population) variance from its samples' moments (law of total variance), broadcastable. */
  batchMoments(samples: { mean: string; variance?: string }): { mean: string; variance: string } {
    const mean = this.op('ReduceMean', [samples.mean], { axes: [0], keepdims: 1 });
    const d = this.op('Sub', [samples.mean, mean]);
    const spread = this.op('Mul', [d, d]);
    const within = samples.variance ? this.op('Add', [samples.variance, spread]) : spread;
    return { mean, variance: this.op('ReduceMean', [within], { axes: [0], keepdims: 1 }) };
  }

  /** A per-sample statistic as [N, C] rows, for output. */
  rows(value: string, channels: number): string {
    return this.op('Reshape', [value, this.constant([-1, channels], [2], 'int64')]);
  }

  /** A value flattened to [C] (a broadcastable per-channel vector), for output. */
  vector(value: string): string {
    return this.op('Reshape', [value, this.constant([-1], [1], 'int64')]);
  }

  encode(name: string): Uint8Array {
    const graph = onnx.GraphProto.create({ name, node: this.nodes, input: this.inputs, output: this.outputs, initializer: this.initializers });
    const model = onnx.ModelProto.create({ irVersion: IR_VERSION, opsetImport: [{ domain: '', version: OPSET }], producerName: 'basin', graph });
    return onnx.ModelProto.encode(model).finish();
  }
}

function valueInfo(name: string, dims: readonly Dim[], elemType: number): Onnx.IValueInfoProto {
  return { name, type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } } } };
}

function attribute(name: string, v: OnnxAttr): Onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof v === 'number') return { name, type: T.INT, i: v };
  if (typeof v === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: T.INTS, ints: v };
  return { name, type: T.FLOAT, f: v.float };
}
