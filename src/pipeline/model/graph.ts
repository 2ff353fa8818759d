import { Architecture, Layer, type Layout } from '../../contracts/index.ts';
import { expandTemplate } from './templates.ts';
import type { StateDict } from './tensor.ts';
import { numel } from './tensor.ts';

/** A model-description problem found before any math; names the tensor and the layer. */
export class ModelError extends Error {
  constructor(readonly code: 'bad_architecture' | 'missing_tensor' | 'shape_mismatch' | 'bad_graph' | 'unsupported', message: string) {
    super(message);
    this.name = 'ModelError';
  }
}

export type ParamRole = 'weight' | 'bias' | 'scale' | 'shift' | 'mean' | 'var' | 'count';

export interface GraphNode {
  id: string;
  index: number;
  layer: Layer;
  /** node ids; 'input' is the network input */
  inputs: string[];
  /** output feature shape, channel first whatever the layout: [C] or [C, H, W] */
  shape: number[];
  /** tensor name per role, for layers that own parameters */
  params: Partial<Record<ParamRole, string>>;
}

export interface ModelGraph {
  layout: Layout;
  /** channel-first input shape */
  input: number[];
  nodes: GraphNode[];
  byId: Map<string, GraphNode>;
  output: string;
  hasBatchNorm: boolean;
  /** every tensor the graph reads, with its expected shape in checkpoint layout */
  expected: Map<string, { shape: number[]; kind: 'float' | 'int'; optional?: boolean }>;
}

export type TensorShapes = Map<string, { shape: number[]; kind: 'float' | 'int' }>;

export function shapesOf(state: StateDict): TensorShapes {
  return new Map([...state].map(([k, t]) => [k, { shape: t.shape, kind: t.kind }]));
}

const ROLE_NAMES: Record<Layout, Record<string, Partial<Record<ParamRole, string>>>> = {
  pytorch: {
    linear: { weight: 'weight', bias: 'bias' },
    conv2d: { weight: 'weight', bias: 'bias' },
    batchnorm: { scale: 'weight', shift: 'bias', mean: 'running_mean', var: 'running_var', count: 'num_batches_tracked' },
    layernorm: { scale: 'weight', shift: 'bias' },
  },
  tfjs: {
    linear: { weight: 'kernel', bias: 'bias' },
    conv2d: { weight: 'kernel', bias: 'bias' },
    batchnorm: { scale: 'gamma', shift: 'beta', mean: 'moving_mean', var: 'moving_variance' },
    layernorm: { scale: 'gamma', shift: 'beta' },
  },
};

/** Axes of a linear/conv weight in checkpoint layout: which holds outputs, which inputs. */
export function weightAxes(layout: Layout, type: 'linear' | 'conv2d'): { out: number; in: number } {
  if (layout === 'pytorch') return { out: 0, in: 1 };
  return type === 'linear' ? { out: 1, in: 0 } : { out: 3, in: 2 };
}

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((v, i) => v === b[i]);
const fmt = (s: readonly number[]) => `[${s.join(', ')}]`;

/**
 * Expand, wire and shape-check an architecture. With `shapes` (from a checkpoint) every tensor is
 * checked against it; without, linear/conv layers must carry `out` (and conv `kernel`) hints, which
 * is how fresh checkpoints are initialised.
 */
export function buildGraph(architecture: unknown, shapes?: TensorShapes): ModelGraph {
  const parsedArch = Architecture.safeParse(architecture);
  if (!parsedArch.success) {
    const i = parsedArch.error.issues[0];
    throw new ModelError('bad_architecture', `architecture${i.path.length ? '.' + i.path.join('.') : ''}: ${i.message}`);
  }
  const expanded = expandTemplate(parsedArch.data);
  const layout = expanded.layout;
  const rawInput = expanded.input;
  const input = rawInput.length === 3 && layout === 'tfjs' ? [rawInput[2], rawInput[0], rawInput[1]] : [...rawInput];
  const sep = layout === 'pytorch' ? '.' : '/';
  const nodes: GraphNode[] = [];
  const byId = new Map<string, GraphNode>();
  const expected: ModelGraph['expected'] = new Map();
  let hasBatchNorm = false;
  const shapeOf = (id: string) => (id === 'input' ? input : byId.get(id)!.shape);

  expanded.layers.forEach((raw, index) => {
    const parsed = Layer.safeParse(raw);
    if (!parsed.success) {
      const i = parsed.error.issues[0];
      throw new ModelError('bad_architecture', `layers.${index}${i.path.length ? '.' + i.path.join('.') : ''}: ${i.message}`);
    }
    const layer = parsed.data;
    const id = layer.id ?? layer.name ?? `#${index}`;
    if (id === 'input' || byId.has(id)) throw new ModelError('bad_graph', `layers.${index}: duplicate layer id "${id}"`);
    const inputs = layer.inputs ?? [index === 0 ? 'input' : nodes[index - 1].id];
    for (const src of inputs) {
      if (src !== 'input' && !byId.has(src)) throw new ModelError('bad_graph', `layer "${id}": input "${src}" is not an earlier layer`);
    }
    const where = `layer "${id}" (${layer.type})`;
    if (layer.type !== 'add' && inputs.length !== 1) throw new ModelError('bad_graph', `${where} takes exactly one input`);
    const inShape = shapeOf(inputs[0]);
    const params: GraphNode['params'] = {};
    const need = (role: ParamRole, shape: number[], kind: 'float' | 'int' = 'float', optional = false) => {
      const tname = `${layer.name}${sep}${ROLE_NAMES[layout][layer.type]![role]}`;
      const found = shapes?.get(tname);
      if (!found) {
        if (optional) return;
        if (shapes) throw new ModelError('missing_tensor', `${where}: checkpoint has no tensor "${tname}" (expected shape ${fmt(shape)})`);
      } else {
        if (found.kind !== kind) throw new ModelError('shape_mismatch', `${where}: tensor "${tname}" must be ${kind === 'int' ? 'an integer' : 'a float'} tensor`);
        if (!sameShape(found.shape, shape)) throw new ModelError('shape_mismatch', `${where}: tensor "${tname}" has shape ${fmt(found.shape)}, expected ${fmt(shape)}`);
      }
      params[role] = tname;
      expected.set(tname, { shape, kind, optional });
    };
    /** Output width from the checkpoint (or the `out` hint), checked against the hint when both exist. */
    const outWidth = (tensorRole: 'weight', axis: number, hint?: number): number => {
      const tname = `${layer.name}${sep}${ROLE_NAMES[layout][layer.type]![tensorRole]}`;
      const found = shapes?.get(tname);
      if (!found) {
        if (shapes) throw new ModelError('missing_tensor', `${where}: checkpoint has no tensor "${tname}"`);
        if (hint === undefined) throw new ModelError('bad_architecture', `${where}: needs "out" when no checkpoint is given`);
        return hint;
      }
      const w = found.shape[axis];
      if (w === undefined) throw new ModelError('shape_mismatch', `${where}: tensor "${tname}" has shape ${fmt(found.shape)}`);
      if (hint !== undefined && hint !== w) throw new ModelError('shape_mismatch', `${where}: tensor "${tname}" has ${w} outputs, the architecture says ${hint}`);
      return w;
    };
    let shape: number[];
    switch (layer.type) {
      case 'linear': {
        if (inShape.length !== 1) throw new ModelError('bad_graph', `${where}: input has shape ${fmt(inShape)}; a linear layer needs a flat input (add a flatten layer)`);
        const axes = weightAxes(layout, 'linear');
        const out = outWidth('weight', axes.out, layer.out);
        need('weight', layout === 'pytorch' ? [out, inShape[0]] : [inShape[0], out]);
        if (layer.bias) need('bias', [out]);
        shape = [out];
        break;
      }
      case 'conv2d': {
        if (inShape.length !== 3) throw new ModelError('bad_graph', `${where}: input has shape ${fmt(inShape)}; conv2d needs [C, H, W]`);
        const axes = weightAxes(layout, 'conv2d');
        const out = outWidth('weight', axes.out, layer.out);
        const wname = `${layer.name}${sep}${ROLE_NAMES[layout].conv2d.weight}`;
        const found = shapes?.get(wname)?.shape;
        const kh = found ? (layout === 'pytorch' ? found[2] : found[0]) : layer.kernel;
        const kw = found ? (layout === 'pytorch' ? found[3] : found[1]) : layer.kernel;
        if (kh === undefined || kw === undefined) throw new ModelError('bad_architecture', `${where}: needs "kernel" when no checkpoint is given`);
        if (layer.kernel !== undefined && (kh !== layer.kernel || kw !== layer.kernel)) {
          throw new ModelError('shape_mismatch', `${where}: tensor "${wname}" has a ${kh}x${kw} kernel, the architecture says ${layer.kernel}`);
        }
        need('weight', layout === 'pytorch' ? [out, inShape[0], kh, kw] : [kh, kw, inShape[0], out]);
        if (layer.bias) need('bias', [out]);
        const [h, w] = [inShape[1], inShape[2]];
        const s = layer.stride;
        const oh = layer.padding === 'same' ? Math.ceil(h / s) : Math.floor((h + 2 * layer.padding - kh) / s) + 1;
        const ow = layer.padding === 'same' ? Math.ceil(w / s) : Math.floor((w + 2 * layer.padding - kw) / s) + 1;
        if (oh < 1 || ow < 1) throw new ModelError('bad_graph', `${where}: input ${fmt(inShape)} is too small for a ${kh}x${kw} kernel`);
        shape = [out, oh, ow];
        break;
      }
      case 'batchnorm':
      case 'layernorm': {
        const c = inShape[0];
        need('scale', [c]);
        need('shift', [c]);
        if (layer.type === 'batchnorm') {
          hasBatchNorm = true;
          need('mean', [c]);
          need('var', [c]);
          if (layout === 'pytorch') need('count', [], 'int', true);
        }
        shape = [...inShape];
        break;
      }
      case 'relu':
      case 'gelu':
      case 'identity':
        shape = [...inShape];
        break;
      case 'flatten':
        shape = [numel(inShape)];
        break;
      case 'globalavgpool':
        if (inShape.length !== 3) throw new ModelError('bad_graph', `${where}: needs a [C, H, W] input, got ${fmt(inShape)}`);
        shape = [inShape[0]];
        break;
      case 'maxpool':
      case 'avgpool': {
        if (inShape.length !== 3) throw new ModelError('bad_graph', `${where}: needs a [C, H, W] input, got ${fmt(inShape)}`);
        const s = layer.stride ?? layer.kernel;
        if (2 * layer.padding > layer.kernel) throw new ModelError('bad_graph', `${where}: padding may be at most half the kernel`);
        const oh = Math.floor((inShape[1] + 2 * layer.padding - layer.kernel) / s) + 1;
        const ow = Math.floor((inShape[2] + 2 * layer.padding - layer.kernel) / s) + 1;
        if (oh < 1 || ow < 1) throw new ModelError('bad_graph', `${where}: input ${fmt(inShape)} is too small for a ${layer.kernel}x${layer.kernel} pool`);
        shape = [inShape[0], oh, ow];
        break;
      }
      case 'add': {
        for (const src of inputs) {
          if (!sameShape(shapeOf(src), inShape)) throw new ModelError('bad_graph', `${where}: inputs have shapes ${inputs.map((s) => fmt(shapeOf(s))).join(' and ')}`);
        }
        shape = [...inShape];
        break;
      }
    }
    const node: GraphNode = { id, index, layer, inputs, shape, params };
    nodes.push(node);
    byId.set(id, node);
  });
  const output = expanded.output ?? nodes[nodes.length - 1].id;
  if (!byId.has(output)) throw new ModelError('bad_graph', `output "${output}" is not a layer id`);
  if (byId.get(output)!.shape.length !== 1) throw new ModelError('bad_graph', `the output layer "${output}" must produce flat logits, got ${fmt(byId.get(output)!.shape)}`);
  return { layout, input, nodes, byId, output, hasBatchNorm, expected };
}

/** Tensors in the checkpoint the graph does not read: reported, never an error. */
export function unusedTensors(graph: ModelGraph, shapes: TensorShapes): string[] {
  return [...shapes.keys()].filter((k) => !graph.expected.has(k));
}
