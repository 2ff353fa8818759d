import { ModelError } from '../errors.ts';
import type { Layer } from '../../contracts/index.ts';
import type { PermContext, Placement } from '../layers/kind.ts';
import { featuresOf } from '../layers/shape.ts';
import type { ModelGraph } from './graph.ts';

/**
 * One tensor axis that a permutation space acts on. An axis may hold `repeat` entries per channel:
 * a linear layer after `flatten` of a [C,H,W] map sees C*H*W inputs, channel-major in PyTorch's NCHW
 * order (index c*HW + j) and channel-minor in tfjs's NHWC order (index j*C + c). An axis may also
 * hold several spaces side by side (a fused q/k/v weight): this space's entries start at `offset`.
 */
export interface PermAxis {
  tensor: string;
  axis: number;
  repeat: number;
  channelMajor: boolean;
  /** first entry of this space's block on an axis it shares (absent: the axis is the block) */
  offset?: number;
}
export interface PermSpace {
  name: string;
  size: number;
  axes: PermAxis[];
  /** node ids whose outputs live in this space, in graph order (activation taps, REPAIR sites) */
  nodes: string[];
  /** activations inside nodes whose features live in this space (attention's q, k, v): node id and the op's key */
  inner: { node: string; key: string }[];
}
/**
 * Spaces (indices) whose permutations must be a permutation of `groups` blocks of `groupSize` units,
 * the same for all of them, composed with a permutation inside each block, each space its own:
 * attention's heads, and inside a head the units q and k share and those of v. Every space stays a
 * flat permutation, so applying, interpolating and mixing are unchanged; only solvers read this.
 */
export interface BlockConstraint {
  spaces: number[];
  groups: number;
  groupSize: number;
}
export interface PermSpec {
  spaces: PermSpace[];
  /** node id -> index into spaces, or -1 where the node's output space is fixed */
  spaceOfNode: Map<string, number>;
  blocks: BlockConstraint[];
}

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
 * Infer which tensor axes share a permutation (DESIGN 4.2): each node's kind says where its output
 * lives (a new space, its input's, its inputs' united, spread over positions) and which of its
 * parameter axes each space acts on. The network's input and output spaces are fixed.
 */
export function inferPermutationSpec(graph: ModelGraph): PermSpec {
  const uf = new UnionFind();
  const channels: number[] = [];
  const open = (size: number): Placement => {
    channels.push(size);
    return { space: uf.make(), repeat: 1, channelMajor: true };
  };
  const input = open(featuresOf(graph.input));
  const place = new Map<string, Placement>();
  const placeOf = (id: string): Placement => (id === 'input' ? input : place.get(id)!);
  const acts: { tensor: string; axis: number; placement: Placement; offset?: number }[] = [];
  const blocks: { spaces: Placement[]; groups: number; groupSize: number }[] = [];
  const inners: { node: string; key: string; placement: Placement }[] = [];

  for (const node of graph.nodes) {
    const ctx: PermContext<Layer> = {
      layer: node.layer,
      layout: graph.layout,
      inputs: node.inputs.map(placeOf),
      inputShapes: node.inputShapes,
      shape: node.shape,
      has: (role) => Object.hasOwn(node.params, role),
      open,
      unite: (a, b) => uf.union(a.space, b.space),
      act: (role, axis, placement, offset) => acts.push({ tensor: node.params[role].tensor, axis, placement, offset }),
      block: (constraint) => blocks.push(constraint),
      inner: (key, placement) => inners.push({ node: node.id, key, placement }),
    };
    place.set(node.id, node.kind.permute(ctx));
  }

  const fixed = new Set([uf.find(input.space), uf.find(placeOf(graph.output).space)]);
  const spaceIndex = new Map<number, number>();
  const spaces: PermSpace[] = [];
  const spaceFor = (handle: number): number => {
    const r = uf.find(handle);
    if (fixed.has(r)) return -1;
    let i = spaceIndex.get(r);
    if (i === undefined) {
      i = spaces.length;
      spaceIndex.set(r, i);
      spaces.push({ name: `P${i}`, size: channels[r], axes: [], nodes: [], inner: [] });
    }
    return i;
  };
  for (const { tensor, axis, placement, offset } of acts) {
    const s = spaceFor(placement.space);
    if (s < 0) continue;
    spaces[s].axes.push({ tensor, axis, repeat: placement.repeat, channelMajor: placement.channelMajor, ...(offset === undefined ? {} : { offset }) });
  }
  const spaceOfNode = new Map<string, number>();
  for (const node of graph.nodes) {
    const p = place.get(node.id)!;
    // a flattened output is no longer a channel map: activation taps and REPAIR sites skip it
    const s = p.repeat === 1 ? spaceFor(p.space) : -1;
    spaceOfNode.set(node.id, s);
    if (s >= 0) spaces[s].nodes.push(node.id);
  }
  for (const { node, key, placement } of inners) {
    const s = spaceFor(placement.space);
    if (s >= 0) spaces[s].inner.push({ node, key });
  }
  const resolved = blocks.map(({ spaces: members, groups, groupSize }) => {
    const indices = members.map((p) => spaceFor(p.space));
    if (indices.some((s) => s < 0 || spaces[s].size !== groups * groupSize)) {
      throw new ModelError('bad_graph', `a block constraint of ${groups} x ${groupSize} names a fixed space or one of another size`);
    }
    return { spaces: indices, groups, groupSize };
  });
  return { spaces, spaceOfNode, blocks: resolved };
}

export const describeAxis = (a: PermAxis): string => `${a.tensor}:${a.axis}${a.offset === undefined ? '' : `@${a.offset}`}`;
