import { describe, it, expect } from 'vitest';
import { gelu, relu } from '../../../src/pipeline/layers/activation.ts';
import { identity } from '../../../src/pipeline/layers/identity.ts';
import { expectClose, net, run, spaces, stateOf, useCpu } from './helpers.ts';

useCpu();

/** erf by its Maclaurin series (exact to double precision for |x| < 3), independent of tfjs's approximation */
function erf(x: number): number {
  let term = x;
  let sum = x;
  for (let n = 1; n < 80; n++) {
    term *= (-x * x) / n;
    sum += term / (2 * n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}

const x = Array.from(Float32Array.of(-2.5, -1, -0.1, 0, 0.3, 1, 2.9));
const elementwise = (type: string) => {
  const g = net([x.length], [{ type, id: 'f' }]);
  return run(g, stateOf(g), x, 1).data;
};

describe('relu, gelu, identity', () => {
  it('forward: max(0, x); x/2 (1 + erf(x / sqrt 2)); x', () => {
    expect(elementwise('relu')).toEqual(x.map((v) => Math.max(0, v)));
    expectClose(elementwise('gelu'), x.map((v) => 0.5 * v * (1 + erf(v / Math.SQRT2))), 1e-5);
    expect(elementwise('identity')).toEqual(x);
  });

  it('gelu approximate "tanh": x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), within 1e-3 of the exact form', () => {
    const g = net([x.length], [{ type: 'gelu', approximate: 'tanh' }]);
    const tanhForm = x.map((v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3))));
    const got = run(g, stateOf(g), x, 1).data;
    expectClose(got, tanhForm, 1e-5);
    expect(got).not.toEqual(elementwise('gelu'));
    got.forEach((v, i) => expect(Math.abs(v - 0.5 * x[i] * (1 + erf(x[i] / Math.SQRT2)))).toBeLessThan(1e-3));
  });

  it('shape, parameters and permutation role: shape and space pass through, nothing to initialise', () => {
    const layers = [{ type: 'linear', name: 'fc1', out: 3 }, { type: 'relu' }, { type: 'identity' }, { type: 'gelu' }, { type: 'linear', name: 'fc2', out: 2 }];
    const g = net([4], layers);
    for (const id of ['#1', '#2', '#3']) {
      expect(g.byId.get(id)!.shape).toEqual({ kind: 'flat', features: 3 });
      expect(g.byId.get(id)!.params).toEqual({});
    }
    expect(spaces(g)).toEqual([{ size: 3, axes: ['fc1.weight:0', 'fc1.bias:0', 'fc2.weight:1'], nodes: ['fc1', '#1', '#2', '#3'] }]);
  });

  it('activation matching taps the nonlinearities, not the identity', () => {
    expect([relu.tap, gelu.tap, identity.tap]).toEqual(['nonlinearity', 'nonlinearity', undefined]);
  });
});
