import { describe, expect, it } from 'vitest';
import { PyDict, PyTuple, unpickle, type GlobalEntry } from '../../../src/pipeline/io/pickle.ts';
import { CheckpointError } from '../../../src/pipeline/io/errors.ts';

/** The bytes Python 3.11's pickle.dumps writes for these values (protocols 0 and 4). */
const PROTO0_DICT = new TextEncoder().encode('(dp0\nVa\np1\n(lp2\nI1\naF2.5\naVx\np3\nasVb\np4\n(I01\nNI-3\nL1180591620717411303424L\ntp5\ns.');
const hex = (h: string) => Uint8Array.from(h.match(/../g)!.map((b) => parseInt(b, 16)));
// OrderedDict(w=b'\x00\x01', s={1, 2}, f=frozenset([3])) with STACK_GLOBAL, FRAME, MEMOIZE, sets
const PROTO4_ORDERED = hex('80049542000000000000008c0b636f6c6c656374696f6e73948c0b4f72646572656444696374949394295294288c01779443020001948c0173948f94284b014b02908c016694284b039194752e');
const PROTO4_SYSTEM = hex('80049514000000000000008c05706f736978948c0673797374656d9493942e');
const PROTO0_SYSTEM = new TextEncoder().encode('cposix\nsystem\np0\n.');

const ordered = new Map<string, GlobalEntry>([['collections.OrderedDict', { call: () => new PyDict() }]]);
const load = (bytes: Uint8Array, globals = ordered) => unpickle(bytes, { label: 't', globals });
const codeOf = (fn: () => unknown) => { try { fn(); return 'no error'; } catch (e) { return `${(e as CheckpointError).code}: ${(e as Error).message}`; } };

describe('restricted unpickler', () => {
  it('protocol 0 text opcodes: dicts, lists, tuples, ints, big ints, floats, strings, None, bools', () => {
    const d = load(PROTO0_DICT) as PyDict;
    expect(d.map.get('a')).toEqual([1, 2.5, 'x']);
    expect((d.map.get('b') as PyTuple).items).toEqual([true, null, -3, 2n ** 70n]);
  });

  it('protocol 4: STACK_GLOBAL of an allowed name, FRAME, MEMOIZE, bytes, sets and frozensets', () => {
    const d = load(PROTO4_ORDERED) as PyDict;
    expect(d.map.get('w')).toEqual(Uint8Array.from([0, 1]));
    expect(d.map.get('s')).toEqual(expect.objectContaining({ items: [1, 2] }));
    expect(d.map.get('f')).toEqual(expect.objectContaining({ items: [3] }));
  });

  it('any other global is refused the moment it is named, in every protocol', () => {
    for (const bytes of [PROTO4_SYSTEM, PROTO0_SYSTEM]) expect(codeOf(() => load(bytes))).toMatch(/^forbidden_global: t: the pickle names posix\.system, which basin does not load/);
    expect(codeOf(() => load(PROTO4_ORDERED, new Map()))).toMatch(/^forbidden_global: t: the pickle names collections\.OrderedDict/);
  });

  it('malformed pickles are bad_pickle, never a crash', () => {
    expect(codeOf(() => load(PROTO0_DICT.subarray(0, 20)))).toMatch(/^bad_pickle: t: /);
    expect(codeOf(() => load(Uint8Array.from([0x80, 0x02, 0x4e, 0x29, 0x52, 0x2e])))).toMatch(/^bad_pickle: t: REDUCE on something that is not a global/);
    expect(codeOf(() => load(Uint8Array.from([0x80, 0x02, 0xff])))).toMatch(/^bad_pickle: t: unknown opcode 0xff/);
    expect(codeOf(() => load(Uint8Array.from([0x80, 0x02, 0x82, 0x01, 0x2e])))).toMatch(/^bad_pickle: t: the pickle uses the copyreg extension registry/);
  });
});
