import type { FieldError } from './problem.ts';

/**
 * Validation issues people can act on, for the CLI and the API alike: every issue (not the first),
 * each at its field path, and union errors flattened to the branch the user meant. zod reports a
 * failed union as every branch's complaints at once ("expected `upload`", "expected `uri`", ...,
 * "unrecognized key `template`"); the branch meant is the one whose complaints are least about the
 * object's own keys (missing required keys, unknown keys, a missing discriminator), and its
 * complaints are reported alone. When no branch stands out, the accepted forms are listed.
 */
interface Issue {
  code: string;
  path: PropertyKey[];
  message: string;
  errors?: Issue[][];
  note?: string;
  discriminator?: string;
  options?: unknown[];
  keys?: string[];
  expected?: string;
}

const MAX_ERRORS = 50;

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v = input;
  for (const k of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[k];
  }
  return v;
}

const dotted = (path: readonly PropertyKey[]) => path.map(String).join('.');
/** Whether the value an invalid_type issue is about is absent (from the input, else from zod's message). */
const absent = (issue: Issue, input: unknown, at: readonly PropertyKey[]) =>
  input === undefined ? / received undefined$/.test(issue.message) : valueAt(input, at) === undefined;
const isMissing = (issue: Issue, input: unknown, at: readonly PropertyKey[]) =>
  issue.code === 'invalid_type' && issue.path.length === 1 && absent(issue, input, [...at, ...issue.path]);
const isDiscriminator = (issue: Issue) => issue.code === 'invalid_union' && !!issue.discriminator && (issue.errors?.length ?? 0) === 0;

/** How much a branch's complaints are about the object's own shape (lower: the branch the user meant). */
function misfit(issues: Issue[], input: unknown, at: readonly PropertyKey[]): number {
  let score = 0;
  for (const i of issues) {
    if (i.code === 'unrecognized_keys' && i.path.length === 0) score += i.keys?.length ?? 1;
    else if (isMissing(i, input, at)) score += 1;
    else if (isDiscriminator(i) && i.path.length === 1 && valueAt(input, [...at, ...i.path]) === undefined) score += 1;
    else if (i.code === 'invalid_union' && i.path.length === 0 && i.errors?.length) score += Math.min(...i.errors.map((b) => misfit(b, input, at)));
  }
  return score;
}

const quote = (v: unknown) => (typeof v === 'string' ? `"${v}"` : JSON.stringify(v));

function discriminatorMessage(issue: Issue, value: unknown, at: readonly PropertyKey[]): string {
  const options = (issue.options ?? []).map(String);
  const expected = `expected one of ${options.join(', ')}`;
  if (value === undefined) return `missing "${issue.discriminator}"; ${expected}`;
  const near = typeof value === 'string' ? options.find((o) => o.toLowerCase() === value.toLowerCase().replace(/[^a-z0-9]/g, '')) : undefined;
  const what = issue.discriminator === 'type' && at.includes('layers') ? 'layer type' : issue.discriminator;
  return `unknown ${what} ${quote(value)}; ${expected}${near ? ` (did you mean "${near}"?)` : ''}`;
}

/** The forms a union accepts, from what each branch said was missing: `{upload}, {uri}, ...`. */
function formsMessage(branches: Issue[][], input: unknown, at: readonly PropertyKey[]): string {
  const forms = branches.map((b) => b.filter((i) => isMissing(i, input, at)).map((i) => String(i.path[0]))).filter((keys) => keys.length > 0);
  const given = valueAt(input, at);
  const keys = given && typeof given === 'object' && !Array.isArray(given) ? Object.keys(given) : [];
  const got = keys.length ? ` (got ${keys.map((k) => `"${k}"`).join(', ')})` : given === undefined ? '' : ` (got ${Array.isArray(given) ? 'a list' : typeof given})`;
  if (!forms.length) return `does not match any accepted form${got}`;
  return `expected one of ${forms.map((f) => `{${f.join(', ')}}`).join(', ')}${got}`;
}

function flatten(issue: Issue, input: unknown, base: readonly PropertyKey[], out: FieldError[]): void {
  const at = [...base, ...issue.path];
  if (isDiscriminator(issue)) {
    out.push({ path: dotted(at), message: discriminatorMessage(issue, valueAt(input, at), at) });
    return;
  }
  if (issue.code === 'invalid_union' && issue.errors?.length) {
    const scored = issue.errors.map((b) => ({ b, score: misfit(b, input, at) }));
    const best = Math.min(...scored.map((s) => s.score));
    const meant = scored.filter((s) => s.score === best);
    if (meant.length === 1) for (const i of meant[0].b) flatten(i, input, at, out);
    else out.push({ path: dotted(at), message: formsMessage(meant.map((s) => s.b), input, at) });
    return;
  }
  if (issue.code === 'invalid_type' && absent(issue, input, at)) {
    out.push({ path: dotted(at), message: `required (${issue.expected ?? 'a value'})` });
    return;
  }
  out.push({ path: dotted(at), message: issue.message });
}

/** zod issues -> field errors, every one, unions resolved to the branch meant; `input` is what was validated. */
export function describeIssues(issues: readonly object[], input: unknown): FieldError[] {
  const out: FieldError[] = [];
  for (const i of issues) flatten(i as Issue, input, [], out);
  const seen = new Set<string>();
  return out.filter((e) => { const k = `${e.path}\n${e.message}`; if (seen.has(k)) return false; seen.add(k); return true; }).slice(0, MAX_ERRORS);
}

/** One line for a terminal: `path: message; path: message`. */
export function issuesLine(errors: readonly FieldError[]): string {
  return errors.map((e) => `${e.path || '(request)'}: ${e.message}`).join('; ');
}
