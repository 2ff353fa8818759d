/**
 * The architecture read from a checkpoint when a request has none (DESIGN 4.1): from a tfjs
 * topology, a Hugging Face or timm config.json, or the tensor names of a known family. The answer is
 * request JSON (the public contract), never engine internals; an ambiguous or unknown checkpoint is
 * a named error asking for `architecture`.
 */
import { Architecture } from '../../../contracts/index.ts';
import { CheckpointError } from '../errors.ts';
import { detectResnet, detectVgg } from './cnn.ts';
import { detectFromHfConfig, isHfConfig, isTimmConfig, timmHints } from './config.ts';
import { detectFromTfjsTopology } from './tfjsTopology.ts';
import { Names, notDetected, type Detection, type DetectHints, type DetectInput } from './types.ts';
import { detectHfVit, detectTimmVit } from './vit.ts';

export type { Detection, DetectHints, DetectInput } from './types.ts';

/** What the names look like, for the error when nothing matched. */
function describe(t: Names): string {
  const tops = new Map<string, number>();
  for (const n of t.tensors.keys()) {
    const top = n.split(/[./]/)[0];
    tops.set(top, (tops.get(top) ?? 0) + 1);
  }
  const listed = [...tops].slice(0, 8).map(([k, c]) => `${k} (${c})`).join(', ');
  const sequential = [...tops.keys()].every((k) => /^\d+$/.test(k)) || [...t.tensors.keys()].every((n) => /^[A-Za-z_]+\.\d+\.(weight|bias|running_mean|running_var|num_batches_tracked)$/.test(n));
  return `no known model family in the tensor names (they begin with ${listed})${sequential ? '; they look like an nn.Sequential stack, and a checkpoint does not store its activations or pooling' : ''}`;
}

const byNames = (t: Names, hints: DetectHints, timm: ReturnType<typeof timmHints> | Record<string, never>) =>
  detectTimmVit(t, timm) ?? detectHfVit(t) ?? detectResnet(t, hints) ?? detectVgg(t, hints);

/** The first name segment every tensor shares (`model.` of a LightningModule's `self.model`), if any. */
function commonPrefix(t: Names): string | undefined {
  const first = /^([A-Za-z_][\w-]*\.)/.exec(t.tensors.keys().next().value ?? '')?.[1];
  return first && [...t.tensors.keys()].every((n) => n.startsWith(first)) ? first : undefined;
}

function detect(input: DetectInput, hints: DetectHints): Detection {
  const t = new Names(input.tensors);
  if (input.topology !== undefined) return detectFromTfjsTopology(input.topology, t);
  let unread: CheckpointError | undefined;
  if (input.config && isHfConfig(input.config)) {
    try {
      return detectFromHfConfig(input.config, t, hints);
    } catch (e) {
      // a config.json of a class basin does not read: the tensor names may still say what the net is
      if (!(e instanceof CheckpointError) || e.code !== 'unsupported_architecture') throw e;
      unread = e;
    }
  }
  const timm = input.config && isTimmConfig(input.config) ? timmHints(input.config) : {};
  let found = byNames(t, hints, timm);
  const prefix = found ? undefined : commonPrefix(t);
  if (prefix) {
    // a training framework's wrapper (Lightning's `model.`, a `backbone.`): the family may be inside it
    found = byNames(new Names(new Map([...t.tensors].map(([n, v]) => [n.slice(prefix.length), v]))), hints, timm);
    if (found) {
      found.prefix = prefix;
      found.notes.unshift(`every tensor name starts with "${prefix}" (a wrapper's attribute); the architecture leaves it out and it is removed`);
    }
  }
  if (!found) throw unread ?? notDetected(describe(t));
  if (unread) found.notes.unshift(`config.json describes a class basin does not read; the architecture comes from the tensor names`);
  if (timm.family && found.architecture.template !== 'vit') found.family = `${timm.family} (${found.family})`;
  return found;
}

/** Detect, then check the answer against the request schema (a detector's slip is named, never merged). */
export function detectArchitecture(input: DetectInput, hints: DetectHints = {}): Detection {
  const d = detect(input, hints);
  const parsed = Architecture.safeParse(d.architecture);
  if (!parsed.success) throw notDetected(`detected ${d.family}, but its description does not validate (${parsed.error.issues[0]?.message})`);
  return d;
}
