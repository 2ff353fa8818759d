import type { ModelGraph } from './graph.ts';
import { mulberry32 } from '../random.ts';
import type { StateDict } from './tensor.ts';
import { numel } from './tensor.ts';

/**
 * A fresh checkpoint for a graph, initialised as PyTorch does (Kaiming-uniform weights with
 * a = sqrt(5), so bound 1/sqrt(fan_in); BN at scale 1, shift 0, mean 0, var 1).
 */
export function initState(graph: ModelGraph, seed: number): StateDict {
  const rand = mulberry32(seed);
  const state: StateDict = new Map();
  for (const node of graph.nodes) {
    const t = node.layer.type;
    for (const [role, name] of Object.entries(node.params)) {
      const spec = graph.expected.get(name)!;
      if (spec.kind === 'int') {
        state.set(name, { kind: 'int', dtype: 'I64', shape: spec.shape, bytes: new Uint8Array(8 * numel(spec.shape)) });
        continue;
      }
      const data = new Float32Array(numel(spec.shape));
      if (t === 'linear' || t === 'conv2d') {
        const w = graph.expected.get(node.params.weight!)!.shape;
        const fanIn = graph.layout === 'pytorch' ? numel(w.slice(1)) : numel(w.slice(0, -1));
        const bound = 1 / Math.sqrt(fanIn);
        for (let i = 0; i < data.length; i++) data[i] = (2 * rand() - 1) * bound;
      } else if (role === 'scale' || role === 'var') {
        data.fill(1);
      }
      state.set(name, { kind: 'float', dtype: 'F32', shape: spec.shape, data });
    }
  }
  return state;
}
