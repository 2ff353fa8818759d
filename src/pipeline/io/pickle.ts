/**
 * A pickle reader that executes nothing. It runs Python's pickle opcodes (protocols 0-5) as data
 * operations only: building lists, tuples, dicts and strings. A pickle refers to code only through
 * globals (GLOBAL, STACK_GLOBAL, INST); each one must be in the caller's table, which says what the
 * name means here (a data constructor written in TypeScript, or an inert marker). Any other name is
 * refused with `forbidden_global` the moment the pickle names it, before anything after it is read,
 * so a payload such as `os.system` is never even looked up.
 */
import { CheckpointError } from './errors.ts';

export class PyTuple {
  constructor(readonly items: PyValue[]) {}
}
export class PySet {
  constructor(readonly items: PyValue[] = []) {}
}
/** dict and OrderedDict; keys are compared by value for primitives, by identity otherwise */
export class PyDict {
  readonly map = new Map<unknown, PyValue>();
  /** attributes set by BUILD (an OrderedDict state_dict carries `_metadata` this way) */
  attrs?: PyValue;
}
/** A name the caller allowed, as a value (a class used as a marker, or a callable). */
export class PyGlobal {
  constructor(readonly module: string, readonly name: string) {}
  get qualified(): string { return `${this.module}.${this.name}`; }
}
/** An instance of an allowed plain-data class (argparse.Namespace, numpy scalars): kept inert. */
export class PyObject {
  state?: PyValue;
  constructor(readonly type: string, readonly args: PyValue[]) {}
}
/** A value a pickle builds: primitives, bytes, lists (arrays), the classes above, or what a global's `call` returned. */
export type PyValue = null | boolean | number | bigint | string | object;

/** What an allowed global does when the pickle calls it (REDUCE, NEWOBJ, INST, OBJ). */
export interface GlobalEntry {
  call?: (args: PyValue[], kwargs?: PyDict) => PyValue;
}
export interface UnpickleOptions {
  /** "module.name" -> its meaning; every other global is refused */
  globals: ReadonlyMap<string, GlobalEntry>;
  /** BINPERSID / PERSID: how out-of-band objects (torch storages) are referenced */
  persistentLoad?: (pid: PyValue) => PyValue;
  /** for messages */
  label: string;
  /** appended to the forbidden_global message: what to do instead */
  hint?: string;
}

const MARK = Symbol('mark');
type StackItem = PyValue | typeof MARK;

export function unpickle(bytes: Uint8Array, opts: UnpickleOptions): PyValue {
  const { label } = opts;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 0;
  const stack: StackItem[] = [];
  const marks: number[] = [];
  const memo = new Map<number, PyValue>();
  const bad = (why: string): never => { throw new CheckpointError('bad_pickle', `${label}: ${why} (at byte ${pos})`); };
  const need = (n: number) => { if (pos + n > bytes.length) bad('the pickle ends early'); };
  const u8 = () => { need(1); return bytes[pos++]; };
  const u16 = () => { need(2); const v = view.getUint16(pos, true); pos += 2; return v; };
  const u32 = () => { need(4); const v = view.getUint32(pos, true); pos += 4; return v; };
  const i32 = () => { need(4); const v = view.getInt32(pos, true); pos += 4; return v; };
  const u64 = () => { need(8); const v = view.getBigUint64(pos, true); pos += 8; if (v > BigInt(Number.MAX_SAFE_INTEGER)) bad('a length is too large'); return Number(v); };
  const take = (n: number) => { need(n); const b = bytes.subarray(pos, pos + n); pos += n; return b; };
  const utf8 = (b: Uint8Array) => new TextDecoder('utf-8', { fatal: false }).decode(b);
  const latin1 = (b: Uint8Array) => {
    let s = '';
    for (let i = 0; i < b.length; i += 4096) s += String.fromCharCode(...b.subarray(i, i + 4096));
    return s;
  };
  const line = () => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) bad('a text opcode has no newline');
    const s = latin1(bytes.subarray(pos, end));
    pos = end + 1;
    return s.endsWith('\r') ? s.slice(0, -1) : s;
  };
  const pop = (): PyValue => {
    const v = stack.pop();
    if (v === undefined) bad('stack underflow');
    if (v === MARK) bad('a mark where a value was expected');
    return v as PyValue;
  };
  const top = (): PyValue => {
    const v = stack[stack.length - 1];
    if (v === undefined || v === MARK) bad('no value on the stack');
    return v as PyValue;
  };
  const popMark = (): PyValue[] => {
    const m = marks.pop();
    if (m === undefined) bad('no mark on the stack');
    const items = stack.splice(m!) as PyValue[];
    items.shift(); // the mark itself
    return items;
  };
  const signedLE = (b: Uint8Array): number | bigint => {
    if (b.length === 0) return 0;
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
    if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };
  const global = (module: string, name: string): PyGlobal => {
    const key = `${module}.${name}`;
    if (!opts.globals.has(key)) {
      throw new CheckpointError('forbidden_global', `${label}: the pickle names ${key}, which basin does not load (it rebuilds tensors only and never runs code from a checkpoint)${opts.hint ? `; ${opts.hint}` : ''}`);
    }
    return new PyGlobal(module, name);
  };
  const call = (fn: PyValue, args: PyValue[], kwargs?: PyDict): PyValue => {
    if (!(fn instanceof PyGlobal)) return bad('REDUCE on something that is not a global');
    const entry = opts.globals.get(fn.qualified)!;
    if (!entry.call) return bad(`${fn.qualified} is not callable here`);
    return entry.call(args, kwargs);
  };
  const tupleArgs = (v: PyValue): PyValue[] => (v instanceof PyTuple ? v.items : bad('call arguments are not a tuple'));
  const setItems = (d: PyValue, items: PyValue[]) => {
    if (!(d instanceof PyDict)) return bad('SETITEM(S) on something that is not a dict');
    if (items.length % 2) bad('SETITEMS with an odd number of values');
    for (let i = 0; i < items.length; i += 2) d.map.set(items[i], items[i + 1]);
  };
  const appendItems = (l: PyValue, items: PyValue[]) => {
    if (Array.isArray(l)) l.push(...items);
    else if (l instanceof PySet) l.items.push(...items);
    else bad('APPEND(S) on something that is not a list');
  };
  const memoGet = (i: number) => (memo.has(i) ? memo.get(i)! : bad(`memo ${i} was never stored`));
  const pyString = (s: string): string => {
    // protocol 0 STRING: a Python repr in quotes
    const q = s[0];
    if ((q !== "'" && q !== '"') || s[s.length - 1] !== q) bad('a STRING opcode without quotes');
    return s.slice(1, -1).replace(/\\(x[0-9a-fA-F]{2}|[\\'"nrt])/g, (_, e: string) => (e[0] === 'x' ? String.fromCharCode(parseInt(e.slice(1), 16)) : ({ n: '\n', r: '\r', t: '\t' } as Record<string, string>)[e] ?? e));
  };

  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80: u8(); break; // PROTO
      case 0x95: u64(); break; // FRAME: a size hint only
      case 0x2e: { // STOP
        if (stack.length !== 1) bad(`STOP with ${stack.length} values on the stack`);
        return pop();
      }
      case 0x28: marks.push(stack.length); stack.push(MARK); break; // MARK
      case 0x30: if (stack[stack.length - 1] === MARK) { marks.pop(); stack.pop(); } else pop(); break; // POP
      case 0x31: popMark(); break; // POP_MARK
      case 0x32: stack.push(top()); break; // DUP
      case 0x4e: stack.push(null); break; // NONE
      case 0x88: stack.push(true); break; // NEWTRUE
      case 0x89: stack.push(false); break; // NEWFALSE
      case 0x4a: stack.push(i32()); break; // BININT
      case 0x4b: stack.push(u8()); break; // BININT1
      case 0x4d: stack.push(u16()); break; // BININT2
      case 0x8a: stack.push(signedLE(take(u8()))); break; // LONG1
      case 0x8b: { const n = i32(); if (n < 0) bad('negative LONG4 length'); stack.push(signedLE(take(n))); break; } // LONG4
      case 0x49: { // INT
        const s = line();
        stack.push(s === '01' ? true : s === '00' ? false : Number.isSafeInteger(Number(s)) ? Number(s) : BigInt(s));
        break;
      }
      case 0x4c: { const s = line().replace(/L$/, ''); const b = BigInt(s); stack.push(b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b); break; } // LONG
      case 0x46: stack.push(Number(line())); break; // FLOAT
      case 0x47: { need(8); stack.push(view.getFloat64(pos, false)); pos += 8; break; } // BINFLOAT (big-endian)
      case 0x58: stack.push(utf8(take(u32()))); break; // BINUNICODE
      case 0x8c: stack.push(utf8(take(u8()))); break; // SHORT_BINUNICODE
      case 0x8d: stack.push(utf8(take(u64()))); break; // BINUNICODE8
      case 0x56: stack.push(line().replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_, a?: string, b?: string) => String.fromCodePoint(parseInt((a ?? b)!, 16)))); break; // UNICODE
      case 0x53: stack.push(pyString(line())); break; // STRING
      case 0x54: { const n = i32(); if (n < 0) bad('negative BINSTRING length'); stack.push(latin1(take(n))); break; } // BINSTRING
      case 0x55: stack.push(latin1(take(u8()))); break; // SHORT_BINSTRING
      case 0x42: stack.push(take(u32()).slice()); break; // BINBYTES
      case 0x43: stack.push(take(u8()).slice()); break; // SHORT_BINBYTES
      case 0x8e: stack.push(take(u64()).slice()); break; // BINBYTES8
      case 0x96: stack.push(take(u64()).slice()); break; // BYTEARRAY8
      case 0x29: stack.push(new PyTuple([])); break; // EMPTY_TUPLE
      case 0x74: stack.push(new PyTuple(popMark())); break; // TUPLE
      case 0x85: stack.push(new PyTuple([pop()])); break; // TUPLE1
      case 0x86: { const b = pop(); const a = pop(); stack.push(new PyTuple([a, b])); break; } // TUPLE2
      case 0x87: { const c = pop(); const b = pop(); const a = pop(); stack.push(new PyTuple([a, b, c])); break; } // TUPLE3
      case 0x5d: stack.push([]); break; // EMPTY_LIST
      case 0x6c: stack.push(popMark()); break; // LIST
      case 0x61: { const v = pop(); appendItems(top(), [v]); break; } // APPEND
      case 0x65: { const items = popMark(); appendItems(top(), items); break; } // APPENDS
      case 0x7d: stack.push(new PyDict()); break; // EMPTY_DICT
      case 0x64: { const d = new PyDict(); setItems(d, popMark()); stack.push(d); break; } // DICT
      case 0x73: { const v = pop(); const k = pop(); setItems(top(), [k, v]); break; } // SETITEM
      case 0x75: { const items = popMark(); setItems(top(), items); break; } // SETITEMS
      case 0x8f: stack.push(new PySet()); break; // EMPTY_SET
      case 0x90: { const items = popMark(); appendItems(top(), items); break; } // ADDITEMS
      case 0x91: stack.push(new PySet(popMark())); break; // FROZENSET
      case 0x71: memo.set(u8(), top()); break; // BINPUT
      case 0x72: memo.set(u32(), top()); break; // LONG_BINPUT
      case 0x70: memo.set(Number(line()), top()); break; // PUT
      case 0x94: memo.set(memo.size, top()); break; // MEMOIZE
      case 0x68: stack.push(memoGet(u8())); break; // BINGET
      case 0x6a: stack.push(memoGet(u32())); break; // LONG_BINGET
      case 0x67: stack.push(memoGet(Number(line()))); break; // GET
      case 0x63: { const module = line(); const name = line(); stack.push(global(module, name)); break; } // GLOBAL
      case 0x93: { // STACK_GLOBAL
        const name = pop(); const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') bad('STACK_GLOBAL needs two strings');
        stack.push(global(module as string, name as string));
        break;
      }
      case 0x69: { const g = global(line(), line()); stack.push(call(g, popMark())); break; } // INST
      case 0x6f: { const [cls, ...args] = popMark(); stack.push(call(cls, args)); break; } // OBJ
      case 0x52: { const args = pop(); const fn = pop(); stack.push(call(fn, tupleArgs(args))); break; } // REDUCE
      case 0x81: { const args = pop(); const cls = pop(); stack.push(call(cls, tupleArgs(args))); break; } // NEWOBJ
      case 0x92: { // NEWOBJ_EX
        const kwargs = pop(); const args = pop(); const cls = pop();
        stack.push(call(cls, tupleArgs(args), kwargs instanceof PyDict ? kwargs : undefined));
        break;
      }
      case 0x62: { // BUILD
        const state = pop();
        const obj = top();
        if (obj instanceof PyObject) obj.state = state;
        else if (obj instanceof PyDict) obj.attrs = state;
        else if (obj === null || typeof obj !== 'object') bad('BUILD on a plain value');
        // other objects (tensors) take no state here: their rebuild function already received it
        break;
      }
      case 0x51: { // BINPERSID
        const pid = pop();
        if (!opts.persistentLoad) bad('a persistent id, and this file type has none');
        stack.push(opts.persistentLoad!(pid));
        break;
      }
      case 0x50: { // PERSID
        const pid = line();
        if (!opts.persistentLoad) bad('a persistent id, and this file type has none');
        stack.push(opts.persistentLoad!(pid));
        break;
      }
      case 0x82: case 0x83: case 0x84:
        return bad('the pickle uses the copyreg extension registry, which basin does not load');
      case 0x97: case 0x98:
        return bad('the pickle uses out-of-band buffers (protocol 5), which basin does not load');
      default:
        return bad(`unknown opcode 0x${op.toString(16).padStart(2, '0')}`);
    }
  }
}

/** A dict's string keys and values (non-string keys are skipped). */
export function stringEntries(d: PyDict): [string, PyValue][] {
  return [...d.map].filter((e): e is [string, PyValue] => typeof e[0] === 'string');
}
