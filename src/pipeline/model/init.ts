import type { ModelGraph } from './graph.ts';
import { mulberry32 } from '../random.ts';
import type { StateDict } from './tensor.ts';
import { numel } from './tensor.ts';

/**
 * A fresh checkpoint for a graph, each parameter filled as its kind declared (PyTorch's defaults:
 * Kaiming-uniform linear/conv weights and biases, norms at scale 1 and shift 0, running mean 0 and
 * variance 1, counters 0), drawing from one seeded stream in graph order.
 */
export function initState(graph: ModelGraph, seed: number): StateDict {
  const rand = mulberry32(seed);
  const state: StateDict = new Map();
  for (const node of graph.nodes) {
    for (const { tensor, shape, init, buffer } of Object.values(node.params)) {
      if (buffer === 'counter') {
        const count = BigInt('fill' in init ? init.fill : 0);
        state.set(tensor, { kind: 'int', dtype: 'I64', shape, bytes: new Uint8Array(new BigInt64Array(numel(shape)).fill(count).buffer) });
        continue;
      }
      const data = new Float32Array(numel(shape));
      if ('uniform' in init) for (let i = 0; i < data.length; i++) data[i] = (2 * rand() - 1) * init.uniform;
      else data.fill(init.fill);
      state.set(tensor, { kind: 'float', dtype: 'F32', shape, data });
    }
  }
  return state;
}
