import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { mergeBody, testApp } from './helpers.ts';

/** Every path to a value inside a JSON document. */
function paths(v: unknown, at: (string | number)[] = []): (string | number)[][] {
  const out = [at];
  if (Array.isArray(v)) v.forEach((x, i) => out.push(...paths(x, [...at, i])));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) out.push(...paths(x, [...at, k]));
  return out;
}

function mutate(base: unknown, path: (string | number)[], op: number, value: unknown): unknown {
  const doc = structuredClone(base) as any;
  if (path.length === 0) return op === 0 ? value : doc;
  const parent = path.slice(0, -1).reduce((o, k) => (o && typeof o === 'object' ? o[k] : undefined), doc);
  if (!parent || typeof parent !== 'object') return doc; // an earlier mutation removed this path
  const last = path[path.length - 1];
  if (op === 0) parent[last] = value; // replace
  else if (op === 1) Array.isArray(parent) ? parent.splice(Number(last), 1) : delete parent[last]; // delete
  else if (typeof parent[last] === 'object' && parent[last] !== null && !Array.isArray(parent[last])) parent[last].zz = value; // unknown field
  else parent[last] = [parent[last], value]; // wrap
  return doc;
}

describe('POST /v1/merges under random and mutated bodies', () => {
  // Nothing is uploaded and https HEADs fail, so no body can create a job: every answer must be 4xx.
  const t = testApp({ fetchUrl: (async () => new Response(null, { status: 404 })) as typeof fetch });
  const base = mergeBody();
  const allPaths = paths(base);

  const mutated = fc
    .tuple(fc.constantFrom(...allPaths), fc.integer({ min: 0, max: 3 }), fc.jsonValue({ maxDepth: 3 }))
    .map(([p, op, v]) => JSON.stringify(mutate(base, p, op, v)));
  const doubly = fc
    .tuple(fc.constantFrom(...allPaths), fc.constantFrom(...allPaths), fc.integer({ min: 0, max: 3 }), fc.jsonValue({ maxDepth: 2 }))
    .map(([p, q, op, v]) => JSON.stringify(mutate(mutate(base, p, op, v), q, (op + 1) % 4, v)));
  const anything = fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v));
  const garbage = fc.string({ maxLength: 200 });
  const body = fc.oneof({ arbitrary: mutated, weight: 5 }, { arbitrary: doubly, weight: 3 }, { arbitrary: anything, weight: 1 }, { arbitrary: garbage, weight: 1 });

  it('answers 4xx problem+json, never 5xx', async () => {
    const seen = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(body, async (text) => {
        const res = await t.asA('/v1/merges', { method: 'POST', body: text, headers: { 'content-type': 'application/json' } });
        seen.set(res.status, (seen.get(res.status) ?? 0) + 1);
        expect(res.status).toBeGreaterThanOrEqual(400);
        expect(res.status).toBeLessThan(500);
        expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
        const p = (await res.json()) as { status: number; code: string };
        expect(p.status).toBe(res.status);
        expect(typeof p.code).toBe('string');
      }),
      { numRuns: 2500, seed: 20261126 },
    );
    // the mutations must reach past JSON parsing and schema checks, or the test proves little
    expect(seen.get(422)).toBeGreaterThan(1000);
  });
});
