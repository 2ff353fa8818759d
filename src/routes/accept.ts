/**
 * Whether an Accept header names JSON at least as highly as the bytes themselves. The catch-all
 * range alone (curl, fetch) is not asking for JSON; `application/json` first, as axios and many
 * generated clients send it, is.
 */
export function prefersJson(accept: string | undefined): boolean {
  const ranges = (accept ?? '').toLowerCase().split(',').map((part) => {
    const [type, ...params] = part.split(';').map((p) => p.trim());
    const q = params.find((p) => p.startsWith('q='));
    return { type, q: q ? Number(q.slice(2)) : 1 };
  });
  const q = (type: string) => Math.max(0, ...ranges.filter((r) => r.type === type && Number.isFinite(r.q)).map((r) => r.q));
  return q('application/json') > 0 && q('application/json') >= q('application/octet-stream');
}
