import { Architecture, Layer, type Layout } from '../../contracts/index.ts';
import { ModelError } from '../errors.ts';
import { kindOf } from '../layers/index.ts';
import type { InferContext, LayerKind, NodeParam } from '../layers/kind.ts';
import { describeShape, featureMap, flat, type FeatureShape } from '../layers/shape.ts';
import { expandTemplate } from './templates.ts';
import type { StateDict } from './tensor.ts';

export interface GraphNode {
  id: string;
  index: number;
  layer: Layer;
  /** the module of its layer type (layers/) */
  kind: LayerKind;
  /** node ids; 'input' is the network input */
  inputs: string[];
  /** the shapes of `inputs`, in order */
  inputShapes: FeatureShape[];
  shape: FeatureShape;
  /** the parameters it reads, by role, in the order its kind declared them */
  params: Record<string, NodeParam>;
}

export interface ModelGraph {
  layout: Layout;
  input: FeatureShape;
  nodes: GraphNode[];
  byId: Map<string, GraphNode>;
  output: string;
  /** some kind keeps running statistics (BatchNorm): RESET applies, REPAIR corrects those kinds */
  hasBatchNorm: boolean;
  /** every tensor the graph reads, with its expected shape in checkpoint layout */
  expected: Map<string, { shape: number[]; kind: 'float' | 'int'; optional?: boolean }>;
}

export type TensorShapes = Map<string, { shape: number[]; kind: 'float' | 'int' }>;

export function shapesOf(state: StateDict): TensorShapes {
  return new Map([...state].map(([k, t]) => [k, { shape: t.shape, kind: t.kind }]));
}

const fmt = (s: readonly number[]) => `[${s.join(', ')}]`;
const sameDims = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((v, i) => v === b[i]);

function issuePath(error: { issues: { path: PropertyKey[]; message: string }[] }): string {
  const i = error.issues[0];
  return `${i.path.length ? '.' + i.path.map(String).join('.') : ''}: ${i.message}`;
}

/** The architecture's `input`: [D] is flat; [C, H, W] a feature map ([H, W, C] in the tfjs layout). */
function inputShape(input: readonly number[], layout: Layout): FeatureShape {
  if (input.length === 1) return flat(input[0]);
  if (input.length === 3) return layout === 'tfjs' ? featureMap(input[2], input[0], input[1]) : featureMap(input[0], input[1], input[2]);
  throw new ModelError('unsupported', `architecture.input: ${fmt(input)} is neither [D] nor a [C, H, W] image`);
}

/**
 * Expand, wire and shape-check an architecture: each layer's kind infers its output shape and
 * declares its parameters. With `shapes` (from a checkpoint) every tensor is checked against it;
 * without, linear/conv layers must carry `out` (and conv `kernel`) hints, which is how fresh
 * checkpoints are initialised.
 */
export function buildGraph(architecture: unknown, shapes?: TensorShapes): ModelGraph {
  const parsedArch = Architecture.safeParse(architecture);
  if (!parsedArch.success) throw new ModelError('bad_architecture', `architecture${issuePath(parsedArch.error)}`);
  const expanded = expandTemplate(parsedArch.data, shapes && ((name) => shapes.has(name)));
  const layout = expanded.layout;
  const input = inputShape(expanded.input, layout);
  const sep = layout === 'pytorch' ? '.' : '/';
  const nodes: GraphNode[] = [];
  const byId = new Map<string, GraphNode>();
  const expected: ModelGraph['expected'] = new Map();
  const shapeOf = (id: string) => (id === 'input' ? input : byId.get(id)!.shape);

  expanded.layers.forEach((raw, index) => {
    const parsed = Layer.safeParse(raw);
    if (!parsed.success) throw new ModelError('bad_architecture', `layers.${index}${issuePath(parsed.error)}`);
    const layer = parsed.data;
    const kind = kindOf(layer);
    const id = layer.id ?? layer.name ?? `#${index}`;
    if (id === 'input' || byId.has(id)) throw new ModelError('bad_graph', `layers.${index}: duplicate layer id "${id}"`);
    const inputs = layer.inputs ?? [index === 0 ? 'input' : nodes[index - 1].id];
    for (const src of inputs) {
      if (src !== 'input' && !byId.has(src)) throw new ModelError('bad_graph', `layer "${id}": input "${src}" is not an earlier layer`);
    }
    const where = `layer "${id}" (${layer.type})`;
    if (kind.arity === 'one' && inputs.length !== 1) throw new ModelError('bad_graph', `${where} takes exactly one input`);
    const params: GraphNode['params'] = {};
    // an empty suffix is a parameter saved under the layer's own name (an nn.Parameter: cls_token)
    const tensorName = (suffix: string) => (suffix ? `${layer.name}${sep}${suffix}` : `${layer.name}`);
    const inputShapes = inputs.map(shapeOf);
    const ctx: InferContext<Layer> = {
      layer,
      layout,
      inputs: inputShapes,
      tensorName,
      checkpointShape(suffix) {
        if (!shapes) return undefined;
        const found = shapes.get(tensorName(suffix));
        if (!found) throw new ModelError('missing_tensor', `${where}: checkpoint has no tensor "${tensorName(suffix)}"`);
        return found.shape;
      },
      param(role, decl) {
        const tensor = tensorName(decl.suffix);
        const kindWanted = decl.buffer === 'counter' ? 'int' : 'float';
        const found = shapes?.get(tensor);
        if (!found) {
          if (decl.optional) return;
          if (shapes) throw new ModelError('missing_tensor', `${where}: checkpoint has no tensor "${tensor}" (expected shape ${fmt(decl.shape)})`);
        } else {
          if (found.kind !== kindWanted) throw new ModelError('shape_mismatch', `${where}: tensor "${tensor}" must be ${kindWanted === 'int' ? 'an integer' : 'a float'} tensor`);
          if (!sameDims(found.shape, decl.shape)) throw new ModelError('shape_mismatch', `${where}: tensor "${tensor}" has shape ${fmt(found.shape)}, expected ${fmt(decl.shape)}`);
        }
        params[role] = { ...decl, role, tensor };
        expected.set(tensor, { shape: decl.shape, kind: kindWanted, optional: decl.optional });
      },
      fail(code, message) {
        throw new ModelError(code, `${where}: ${message}`);
      },
    };
    const node: GraphNode = { id, index, layer, kind, inputs, inputShapes, shape: kind.infer(ctx), params };
    nodes.push(node);
    byId.set(id, node);
  });
  const output = expanded.output ?? nodes[nodes.length - 1].id;
  const last = byId.get(output);
  if (!last) throw new ModelError('bad_graph', `output "${output}" is not a layer id`);
  if (last.shape.kind !== 'flat') throw new ModelError('bad_graph', `the output layer "${output}" must produce flat logits, got ${describeShape(last.shape)}`);
  const hasBatchNorm = nodes.some((n) => n.kind.runningStats);
  return { layout, input, nodes, byId, output, hasBatchNorm, expected };
}

/** Tensors in the checkpoint the graph does not read: reported, never an error. */
export function unusedTensors(graph: ModelGraph, shapes: TensorShapes): string[] {
  return [...shapes.keys()].filter((k) => !graph.expected.has(k));
}
