/**
 * Requests an attacker would send, as fast-check arbitraries: merge bodies mutated at every path,
 * `url` references and webhooks aimed at an internal service in every spelling, and the methods,
 * paths and content types around them. Shared by the in-process property test and the fuzz that runs
 * against the real edge process.
 */
import fc from 'fast-check';
import { INTERNAL_HOSTS } from './spellings.ts';

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

/** JSON texts: `base` mutated once or twice, any JSON at all, or not JSON. */
export function mutatedBodies(base: unknown): fc.Arbitrary<string> {
  const allPaths = paths(base);
  const mutated = fc
    .tuple(fc.constantFrom(...allPaths), fc.integer({ min: 0, max: 3 }), fc.jsonValue({ maxDepth: 3 }))
    .map(([p, op, v]) => JSON.stringify(mutate(base, p, op, v)));
  const doubly = fc
    .tuple(fc.constantFrom(...allPaths), fc.constantFrom(...allPaths), fc.integer({ min: 0, max: 3 }), fc.jsonValue({ maxDepth: 2 }))
    .map(([p, q, op, v]) => JSON.stringify(mutate(mutate(base, p, op, v), q, (op + 1) % 4, v)));
  const anything = fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v));
  const garbage = fc.string({ maxLength: 200 });
  return fc.oneof({ arbitrary: mutated, weight: 5 }, { arbitrary: doubly, weight: 3 }, { arbitrary: anything, weight: 1 }, { arbitrary: garbage, weight: 1 });
}

/** URLs an attacker points the service at: internal hosts in every spelling, names, odd schemes, credentials. */
export function hostileUrls(internalPort: number, names: readonly string[] = []): fc.Arbitrary<string> {
  const host = fc.constantFrom(...INTERNAL_HOSTS, ...names);
  // mostly what the schema accepts, so that most requests reach the outbound guard
  const scheme = fc.oneof({ arbitrary: fc.constant('https'), weight: 8 }, { arbitrary: fc.constantFrom('http', 'HTTPS', 'ftp', 'file', 'gopher'), weight: 2 });
  const port = fc.constantFrom(`:${internalPort}`, `:${internalPort}`, '', ':443', ':0', ':65535');
  const userinfo = fc.oneof({ arbitrary: fc.constant(''), weight: 8 }, { arbitrary: fc.constantFrom('user:pw@', ':@', 'a@'), weight: 1 });
  const path = fc.constantFrom('/secret', '/latest/meta-data/', '/model.safetensors', '/%2e%2e/x', '/?x=1#y');
  return fc.tuple(scheme, userinfo, host, port, path).map(([s, u, h, p, pa]) => `${s}://${u}${h}${p}${pa}`);
}

/** A merge body whose models, datasets and webhook point at `urls`. */
export function hostileMergeBodies(base: Record<string, unknown>, urls: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc
    .record({ models: fc.array(urls, { minLength: 2, maxLength: 4 }), evaluation: fc.option(urls), webhook: fc.option(urls) })
    .map(({ models, evaluation, webhook }) => JSON.stringify({
      ...base,
      models: models.map((url) => ({ url })),
      ...(evaluation ? { data: { evaluation: { url: evaluation } } } : {}),
      ...(webhook ? { webhook: { url: webhook } } : {}),
    }));
}

export const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'] as const;

export const PATHS = [
  '/v1/merges', '/merge', '/v1/uploads', '/v1/hooks/training-run', '/v1/merges/job_0000000000aaaaaaaaaa',
  '/v1/merges/job_0000000000aaaaaaaaaa/report', '/v1/merges/job_0000000000aaaaaaaaaa/report.svg',
  '/v1/merges/job_0000000000aaaaaaaaaa/weights', '/v1/merges?limit=-1', '/v1/merges?limit=1e9&cursor=%ff', '/v1/merges/..%2f..%2fetc',
  '/v1/nope', '/v1', '/', '/healthz', '/openapi.yaml', '/v1/merges/%00', '/V1/MERGES', '/v1/merges/', '/merge/../v1/uploads',
];

export const CONTENT_TYPES = [
  'application/json', 'application/json; charset=utf-8', 'application/merge-patch+json', 'application/json;;;;;;',
  'application/json; charset', 'application/json;=', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data',
  '', 'application/json\t', 'application/json ; x=y', '*/*',
];

/** One whole request: method, path, content type and body; half of them well-formed merge requests. */
export function hostileRequests(bodies: fc.Arbitrary<string>) {
  const anyRequest = fc.record({
    method: fc.constantFrom(...METHODS),
    path: fc.constantFrom(...PATHS),
    // anything a client can put in a header (fetch refuses control characters before sending)
    contentType: fc.oneof(fc.constantFrom(...CONTENT_TYPES), fc.string({ maxLength: 40 }).filter((s) => /^[\x20-\x7e]*$/.test(s))),
    body: bodies,
  });
  const merge = fc.record({
    method: fc.constant('POST' as (typeof METHODS)[number]),
    path: fc.constantFrom('/v1/merges', '/merge'),
    contentType: fc.constant('application/json'),
    body: bodies,
  });
  return fc.oneof(anyRequest, merge);
}
