import type { GraphNode, ModelGraph } from './graph.ts';
import { weightAxes } from './graph.ts';

/**
 * One tensor axis that a permutation space acts on. An axis may hold `repeat` features per channel:
 * a linear layer after `flatten` of a [C,H,W] map sees C*H*W inputs, channel-major in PyTorch's NCHW
 * order (index c*HW + j) and channel-minor in tfjs's NHWC order (index j*C + c).
 */
export interface PermAxis {
  tensor: string;
  axis: number;
  repeat: number;
  channelMajor: boolean;
}
export interface PermSpace {
  name: string;
  size: number;
  axes: PermAxis[];
  /** node ids whose outputs live in this space, in graph order (activation taps, REPAIR sites) */
  nodes: string[];
}
export interface PermSpec {
  spaces: PermSpace[];
  /** node id -> index into spaces, or -1 where the node's output space is fixed */
  spaceOfNode: Map<string, number>;
}

/** Where a node's output features live: a channel space, and how flatten spread it. */
interface Placement { root: number; repeat: number; channelMajor: boolean }

class UnionFind {
  parent: number[] = [];
  make(): number { this.parent.push(this.parent.length); return this.parent.length - 1; }
  find(x: number): number {
    while (this.parent[x] !== x) { this.parent[x] = this.parent[this.parent[x]]; x = this.parent[x]; }
    return x;
  }
  union(a: number, b: number): void { this.parent[this.find(a)] = this.find(b); }
}

/**
 * Infer which tensor axes share a permutation (DESIGN 4.2): a linear/conv output opens a space,
 * norms/activations/pools keep it, `add` unites its inputs' spaces, flatten spreads a channel over
 * its H*W block; the input and the logits spaces are fixed.
 */
export function inferPermutationSpec(graph: ModelGraph): PermSpec {
  const uf = new UnionFind();
  const INPUT = uf.make();
  const channels: number[] = [graph.input[0]];
  const place = new Map<string, Placement>();
  const placeOf = (id: string): Placement => (id === 'input' ? { root: INPUT, repeat: 1, channelMajor: true } : place.get(id)!);
  const pending: { node: GraphNode; tensor: string; axis: number; source: 'out' | 'in' }[] = [];

  for (const node of graph.nodes) {
    const inP = placeOf(node.inputs[0]);
    const t = node.layer.type;
    if (t === 'linear' || t === 'conv2d') {
      const root = uf.make();
      channels.push(node.shape[0]);
      place.set(node.id, { root, repeat: 1, channelMajor: true });
      const axes = weightAxes(graph.layout, t);
      pending.push({ node, tensor: node.params.weight!, axis: axes.out, source: 'out' });
      if (node.params.bias) pending.push({ node, tensor: node.params.bias, axis: 0, source: 'out' });
      pending.push({ node, tensor: node.params.weight!, axis: axes.in, source: 'in' });
    } else if (t === 'flatten') {
      const inShape = node.inputs[0] === 'input' ? graph.input : graph.byId.get(node.inputs[0])!.shape;
      const spatial = inShape.slice(1).reduce((a, b) => a * b, 1);
      place.set(node.id, { root: inP.root, repeat: inP.repeat * spatial, channelMajor: graph.layout === 'pytorch' || inP.repeat * spatial === 1 });
    } else {
      if (t === 'add') for (const other of node.inputs.slice(1)) uf.union(placeOf(other).root, inP.root);
      place.set(node.id, { ...inP });
      for (const role of ['scale', 'shift', 'mean', 'var'] as const) {
        const tensor = node.params[role];
        if (tensor) pending.push({ node, tensor, axis: 0, source: 'in' });
      }
    }
  }
  const fixed = new Set([uf.find(INPUT), uf.find(placeOf(graph.output).root)]);
  const spaceIndex = new Map<number, number>();
  const spaces: PermSpace[] = [];
  const spaceFor = (root: number): number => {
    const r = uf.find(root);
    if (fixed.has(r)) return -1;
    let i = spaceIndex.get(r);
    if (i === undefined) {
      i = spaces.length;
      spaceIndex.set(r, i);
      spaces.push({ name: `P${i}`, size: channels[r], axes: [], nodes: [] });
    }
    return i;
  };
  for (const { node, tensor, axis, source } of pending) {
    const p = source === 'out' ? place.get(node.id)! : placeOf(node.inputs[0]);
    const s = spaceFor(p.root);
    if (s < 0) continue;
    const repeat = source === 'out' ? 1 : p.repeat;
    spaces[s].axes.push({ tensor, axis, repeat, channelMajor: source === 'out' ? true : p.channelMajor });
  }
  const spaceOfNode = new Map<string, number>();
  for (const node of graph.nodes) {
    const p = place.get(node.id)!;
    // a flattened output is no longer a channel map: activation taps and REPAIR sites skip it
    const s = p.repeat === 1 ? spaceFor(p.root) : -1;
    spaceOfNode.set(node.id, s);
    if (s >= 0) spaces[s].nodes.push(node.id);
  }
  return { spaces, spaceOfNode };
}

export const describeAxis = (a: PermAxis): string => `${a.tensor}:${a.axis}`;
