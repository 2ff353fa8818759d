import type { StateDict } from './tensor.ts';

/** (1-alpha)*a + alpha*b for float tensors; integer buffers come from `a` unchanged. */
export function lerpStates(a: StateDict, b: StateDict, alpha: number): StateDict {
  const out: StateDict = new Map();
  for (const [name, ta] of a) {
    const tb = b.get(name);
    if (ta.kind !== 'float' || !tb || tb.kind !== 'float') { out.set(name, ta); continue; }
    const data = new Float32Array(ta.data.length);
    const x = ta.data;
    const y = tb.data;
    for (let i = 0; i < data.length; i++) data[i] = x[i] + alpha * (y[i] - x[i]);
    out.set(name, { ...ta, data });
  }
  return out;
}

/** Uniform average of several checkpoints of one architecture. */
export function meanStates(states: readonly StateDict[]): StateDict {
  if (states.length === 1) return states[0];
  const out: StateDict = new Map();
  for (const [name, t0] of states[0]) {
    if (t0.kind !== 'float') { out.set(name, t0); continue; }
    const data = new Float32Array(t0.data.length);
    for (const s of states) {
      const t = s.get(name);
      if (!t || t.kind !== 'float') throw new Error(`tensor ${name} missing from one of the models`);
      for (let i = 0; i < data.length; i++) data[i] += t.data[i];
    }
    for (let i = 0; i < data.length; i++) data[i] /= states.length;
    out.set(name, { ...t0, data });
  }
  return out;
}
