/**
 * The binary extension of wsq/1 (PROTOCOL.md §4.9, feature `binary`) and the argument lists of
 * feature `args`: finding `Buffer`/`Uint8Array`/`ArrayBuffer` values inside a frame's `data` or
 * `args`, the layout of a binary WebSocket message, and the stored form of a message with several
 * arguments or binary values (a JSON text, so every store keeps it unchanged).
 *
 * A binary message is
 *
 *     u32 k (big-endian, 1..MAX_ATTACHMENTS) | k × u32 length | the k attachments | the frame as JSON text (UTF-8)
 *
 * and its frame carries `bin`: k paths, one per attachment, in order. A path starts with the field
 * (`"data"` or `"args"`) and goes on with object keys and array indexes; the JSON holds `null` there.
 * The JSON comes last so the server can splice a delivery `id` before its closing brace, as it does
 * for text frames (codec `withDelivery`).
 *
 * Inside the server a frame to send travels as a string (the *wire text*): a text frame is its JSON;
 * a binary message is a string starting with U+0000 whose prefix and attachments are Latin-1
 * characters (one per byte) followed by the JSON. `wireBuffer` turns either into the bytes to write;
 * a text frame costs one `charCodeAt` more than before.
 */
import { utf8Bytes } from './utf8.js';

/** Most attachments one binary message may carry (R4.9.3). */
export const MAX_ATTACHMENTS = 1000;

/** A path to a binary value inside a frame: the field (`data` or `args`), then keys and indexes. */
export type BinPath = (string | number)[];

/** A binary value the library and SDK accept: an ArrayBuffer, or any view of one (Buffer, Uint8Array, DataView …). */
export type BinaryLike = ArrayBuffer | ArrayBufferView;

/** Levels walked when looking for binary values (values deeper than this are left as they are: R1.13 refuses them anyway). */
const WALK_DEPTH = 64;

/** True for an ArrayBuffer or a view of one (a Node Buffer included). */
export function isBinary(v: unknown): v is BinaryLike {
  return typeof v === 'object' && v !== null && (ArrayBuffer.isView(v) || v instanceof ArrayBuffer || Object.prototype.toString.call(v) === '[object ArrayBuffer]');
}

/** The bytes of a binary value, without copying. */
export function bytesOf(v: BinaryLike): Uint8Array {
  if (v instanceof Uint8Array) return v;
  if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  return new Uint8Array(v as ArrayBuffer);
}

/** True when `v` holds a binary value anywhere (checked without recursion, at most WALK_DEPTH levels). */
export function hasBinary(v: unknown): boolean {
  if (typeof v !== 'object' || v === null) return false;
  const stack: unknown[] = [v];
  const depth: number[] = [0];
  while (stack.length > 0) {
    const o = stack.pop() as object;
    const d = depth.pop()!;
    if (isBinary(o)) return true;
    if (d >= WALK_DEPTH || typeof (o as { toJSON?: unknown }).toJSON === 'function') continue;
    if (Array.isArray(o)) {
      for (let i = 0; i < o.length; i++) {
        const x: unknown = o[i];
        if (typeof x === 'object' && x !== null) stack.push(x), depth.push(d + 1);
      }
    } else {
      for (const k of Object.keys(o)) {
        const x: unknown = (o as Record<string, unknown>)[k];
        if (typeof x === 'object' && x !== null) stack.push(x), depth.push(d + 1);
      }
    }
  }
  return false;
}

/** A value with its binary parts taken out: `json` holds `null` where each part was, `paths` says where. */
export interface Stripped {
  json: unknown;
  paths: BinPath[];
  parts: Uint8Array[];
}

/**
 * Take the binary values out of `value` (copying only the arrays and objects on their way), with
 * their paths prefixed by `at`. The caller's value is never changed.
 */
export function stripBinary(value: unknown, at: BinPath, paths: BinPath[], parts: Uint8Array[]): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (isBinary(value)) {
    if (parts.length >= MAX_ATTACHMENTS) throw new RangeError(`more than ${MAX_ATTACHMENTS} binary values in one message; send fewer (join small ones into one buffer)`);
    paths.push(at);
    parts.push(bytesOf(value));
    return null;
  }
  if (at.length > WALK_DEPTH || typeof (value as { toJSON?: unknown }).toJSON === 'function' || !hasBinary(value)) return value;
  if (Array.isArray(value)) return value.map((x, i) => stripBinary(x, [...at, i], paths, parts));
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(value)) {
    const x = stripBinary((value as Record<string, unknown>)[k], [...at, k], paths, parts);
    // defineProperty: an own key named "__proto__" stays an own key.
    Object.defineProperty(out, k, { value: x, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/**
 * Put `parts` back at `paths` inside `root` (the decoded frame, or a stored envelope's args),
 * where the JSON must hold `null`. Returns a problem phrase, or undefined when every part found
 * its place. Own keys only: a path never reaches Object.prototype.
 */
export function placeBinary(root: Record<string, unknown> | unknown[], paths: readonly BinPath[], parts: readonly unknown[]): string | undefined {
  if (paths.length !== parts.length) return `has ${paths.length} paths in "bin" but the message carries ${parts.length} attachments`;
  for (let p = 0; p < paths.length; p++) {
    const path = paths[p]!;
    let at: unknown = root;
    for (let i = 0; i < path.length - 1; i++) {
      at = step(at, path[i]!);
      if (at === undefined) return `"bin" path ${p} (${JSON.stringify(path).slice(0, 80)}) does not lead to a value of the frame`;
    }
    const last = path[path.length - 1]!;
    if (typeof at !== 'object' || at === null || isBinary(at) || step(at, last) !== null) {
      return `"bin" path ${p} (${JSON.stringify(path).slice(0, 80)}) must lead to a null of the frame's JSON, the attachment's place`;
    }
    Object.defineProperty(at, last, { value: parts[p], enumerable: true, writable: true, configurable: true });
  }
  return undefined;
}

function step(at: unknown, k: string | number): unknown {
  if (typeof at !== 'object' || at === null || isBinary(at)) return undefined;
  if (Array.isArray(at)) return typeof k === 'number' && k < at.length ? at[k] : undefined;
  return typeof k === 'string' && Object.hasOwn(at, k) ? (at as Record<string, unknown>)[k] : undefined;
}

// ---------------------------------------------------------------- the binary message

/** True when a wire text is a binary message (it starts with U+0000; a JSON frame starts with "{"). */
export function isBinaryWire(wire: string): boolean {
  return wire.charCodeAt(0) === 0;
}

/** The wire text of a binary message: the prefix and attachments as Latin-1 characters, then the frame's JSON. */
export function binaryWire(json: string, parts: readonly Uint8Array[]): string {
  const head = new Uint8Array(4 + 4 * parts.length);
  const view = new DataView(head.buffer);
  view.setUint32(0, parts.length);
  for (const [i, p] of parts.entries()) view.setUint32(4 + 4 * i, p.byteLength);
  let s = latin1(head);
  for (const p of parts) s += latin1(p);
  return s + json;
}

function latin1(b: Uint8Array): string {
  const B = (globalThis as { Buffer?: { from(a: ArrayBuffer, o: number, l: number): { toString(e: string): string } } }).Buffer;
  if (B) return B.from(b.buffer as ArrayBuffer, b.byteOffset, b.byteLength).toString('latin1');
  let s = '';
  for (let i = 0; i < b.length; i += 8192) s += String.fromCharCode(...b.subarray(i, i + 8192));
  return s;
}

/** Where the JSON of a binary wire text starts (after the prefix and the attachments). */
function jsonStart(wire: string): number {
  const u32 = (i: number) => ((wire.charCodeAt(i) << 24) | (wire.charCodeAt(i + 1) << 16) | (wire.charCodeAt(i + 2) << 8) | wire.charCodeAt(i + 3)) >>> 0;
  const k = u32(0);
  let at = 4 + 4 * k;
  for (let i = 0; i < k; i++) at += u32(4 + 4 * i);
  return at;
}

/** The bytes of a binary wire text, as a Uint8Array (the SDK's browser build: no Buffer). */
export function binaryWireBytes(wire: string): Uint8Array {
  const start = jsonStart(wire);
  const json = new TextEncoder().encode(wire.slice(start));
  const out = new Uint8Array(start + json.length);
  for (let i = 0; i < start; i++) out[i] = wire.charCodeAt(i);
  out.set(json, start);
  return out;
}

/** The byte length of a wire text as it is written (UTF-8 for text, the binary layout for binary). */
export function wireByteLength(wire: string): number {
  if (!isBinaryWire(wire)) return utf8Bytes(wire);
  const start = jsonStart(wire);
  return start + utf8Bytes(wire.slice(start));
}

/** A binary message split into its frame's JSON text and its attachments, or the problem (R4.9.4). */
export type SplitMessage = { ok: true; json: string; parts: Uint8Array[] } | { ok: false; problem: string };

const fatalUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Split a binary message (R4.9.2). The attachments are views of `msg` (no copy). Never throws.
 * @example
 * const m = splitBinaryMessage(buf);
 * if (m.ok) decodeClientFrame(m.json, m.parts);
 */
export function splitBinaryMessage(msg: Uint8Array): SplitMessage {
  const view = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
  if (msg.byteLength < 4) return { ok: false, problem: `it is ${msg.byteLength} bytes, shorter than its 4-byte attachment count` };
  const k = view.getUint32(0);
  if (k < 1 || k > MAX_ATTACHMENTS)
    return { ok: false, problem: `its attachment count is ${k}; it must be 1 to ${MAX_ATTACHMENTS} (a frame without binary values goes as a text message)` };
  let at = 4 + 4 * k;
  if (msg.byteLength < at) return { ok: false, problem: `it ends inside its ${k} attachment lengths` };
  const parts: Uint8Array[] = [];
  for (let i = 0; i < k; i++) {
    const len = view.getUint32(4 + 4 * i);
    if (at + len > msg.byteLength) return { ok: false, problem: `attachment ${i} (${len} bytes) runs past the end of the message` };
    parts.push(msg.subarray(at, at + len));
    at += len;
  }
  let json: string;
  try {
    json = fatalUtf8.decode(msg.subarray(at));
  } catch {
    return { ok: false, problem: 'the frame after the attachments is not valid UTF-8' };
  }
  return { ok: true, json, parts };
}

// ---------------------------------------------------------------- arguments in frames

const binaryFrames = new WeakSet<object>();

/** Mark a decoded frame whose values came with attachments (the codec does; weak, so nothing is kept). */
export function markBinary(frame: object): void {
  binaryFrames.add(frame);
}

/** True for a decoded client frame that came as a binary message (its `data`/`args` hold binary values). */
export function carriesBinary(frame: object): boolean {
  return binaryFrames.has(frame);
}

/** The `data`/`args` (and `bin`) fields of a frame carrying `args` (R4.5.10): one value goes as `data`, any other count as `args`. */
export interface ArgFields {
  data?: unknown;
  args?: unknown[];
}

/**
 * The fields of a frame that carries `args` (a list of values), and its attachments: one value is
 * `data` (exactly as a frame without the extension), another count is `args`; with `withData`
 * (server `event` frames, whose `data` is required) `data` is also the first value, or null.
 * Binary values are taken out (`bin` paths and `parts`) unless `text` says there are none.
 */
export function argFields(args: readonly unknown[], withData: boolean, text = false): { fields: ArgFields & { bin?: BinPath[] }; parts: Uint8Array[] } {
  const paths: BinPath[] = [];
  const parts: Uint8Array[] = [];
  const fields: ArgFields & { bin?: BinPath[] } = {};
  if (args.length === 1) {
    const v = args[0] === undefined ? null : args[0];
    fields.data = text ? v : stripBinary(v, ['data'], paths, parts);
  } else {
    const list = args.map((a) => (a === undefined ? null : a));
    fields.args = text ? list : list.map((a, i) => stripBinary(a, ['args', i], paths, parts));
    // The first value as `data` too, for a client that does not read `args` (its binary places stay null there).
    if (withData) fields.data = fields.args.length === 0 ? null : fields.args[0];
  }
  if (paths.length > 0) fields.bin = paths;
  return { fields, parts };
}

/** The arguments a frame carries: `args`, else `[data]` (`null` when absent; R4.5.10). */
export function frameArgs(f: { data?: unknown; args?: unknown[] }): unknown[] {
  return f.args ?? [f.data === undefined ? null : f.data];
}

/** The answers an `ack` frame carries: `args`, else `[data]`, else none (R4.6.4). */
export function ackArgs(f: { data?: unknown; args?: unknown[] }): unknown[] {
  return f.args ?? (f.data === undefined ? [] : [f.data]);
}

/** Encode a frame object whose `data`/`args` may hold binary values: its JSON text, or a binary wire text. */
export function encodeWithBinary(frame: Record<string, unknown>, parts: readonly Uint8Array[]): string {
  const json = JSON.stringify(frame);
  return parts.length === 0 ? json : binaryWire(json, parts);
}

/**
 * Encode a frame object as the SDK sends it (R4.9): its JSON text when its `data`/`args` hold no
 * binary value (exactly `JSON.stringify`), else a binary wire text with `bin` listing the places.
 * @example
 * encodeFrameBinary({ type: 'emit', event: 'up', data: { file: new Uint8Array([1, 2]) } });
 */
export function encodeFrameBinary(frame: Record<string, unknown>): string {
  const inData = typeof frame.data === 'object' && frame.data !== null && hasBinary(frame.data);
  const inArgs = Array.isArray(frame.args) && hasBinary(frame.args);
  if (!inData && !inArgs) return JSON.stringify(frame);
  const paths: BinPath[] = [];
  const parts: Uint8Array[] = [];
  const f: Record<string, unknown> = { ...frame };
  if (inData) f.data = stripBinary(frame.data, ['data'], paths, parts);
  if (inArgs) f.args = stripBinary(frame.args, ['args'], paths, parts);
  f.bin = paths;
  return binaryWire(JSON.stringify(f), parts);
}

// ---------------------------------------------------------------- the stored form (R5.8.6)

/** The key of a stored envelope: a stored `data` that is an object whose first key is this holds arguments, not one value. */
export const ENVELOPE_KEY = '$wsq';
const ENVELOPE_PREFIX = `{"${ENVELOPE_KEY}":`;

/** A stored envelope: the arguments (binary places null) and the binary values, base64, by path into `args`. */
export interface Envelope {
  args: unknown[];
  bin?: { at: BinPath; b64: string }[];
}

/** Internal: arguments on their way to a room's log (a client `emit` with `args` or binary values). */
export class StoredArgs {
  constructor(readonly args: readonly unknown[]) {}
}

/** Internal: one value known to hold no binary value (it came in a text frame), so `storedData` need not walk it. */
export class JsonValue {
  constructor(readonly value: unknown) {}
}

/**
 * The `data` a store keeps for a message (R5.8.6): one JSON value as it is (the hot path: no copy,
 * two checks), or, for several arguments (`StoredArgs`), binary values, or a value that could be
 * read as an envelope (an object whose first key is "$wsq"), the envelope `{"$wsq":{args, bin?}}`,
 * with binary values as base64. Plain JSON traffic is stored exactly as before.
 */
export function storedData(data: unknown): unknown {
  if (typeof data !== 'object' || data === null) return data;
  if (data instanceof JsonValue) {
    const v = data.value;
    return typeof v === 'object' && v !== null && looksLikeEnvelope(v) ? envelope([v]) : v; // the wire's JSON: no walk
  }
  if (data instanceof StoredArgs) return envelope(data.args);
  // A value that could be read as an envelope is wrapped in one, so it comes back as it was sent.
  if (!looksLikeEnvelope(data) && !hasBinary(data)) return data;
  return envelope([data]);
}

/**
 * The `data` to publish again for a message read from a store (an admin redrive): its arguments
 * as `StoredArgs` when it is an envelope, so they are not wrapped a second time; else the value.
 */
export function republishData(stored: unknown): unknown {
  if (typeof stored !== 'object' || stored === null || !looksLikeEnvelope(stored)) return stored;
  const args = openEnvelope(JSON.stringify(stored));
  return args ? new StoredArgs(args) : stored;
}

function looksLikeEnvelope(data: object): boolean {
  if (Array.isArray(data)) return false;
  for (const k in data) return k === ENVELOPE_KEY;
  return false;
}

function envelope(args: readonly unknown[]): { [ENVELOPE_KEY]: Envelope } {
  const paths: BinPath[] = [];
  const parts: Uint8Array[] = [];
  const list = args.map((a, i) => stripBinary(a === undefined ? null : a, [i], paths, parts));
  const env: Envelope = { args: list };
  if (paths.length > 0) env.bin = paths.map((at, i) => ({ at, b64: toBase64(parts[i]!) }));
  return { [ENVELOPE_KEY]: env };
}

/** True when a stored message's JSON text is an envelope (one `startsWith`: plain messages pay nothing more). */
export function isEnvelopeJson(json: string): boolean {
  return json.startsWith(ENVELOPE_PREFIX);
}

/** The arguments of a stored envelope, binary values as bytes (`Buffer` in Node), or undefined when it is not one. */
export function openEnvelope(json: string): unknown[] | undefined {
  if (!isEnvelopeJson(json)) return undefined;
  try {
    const env = (JSON.parse(json) as Record<string, Envelope>)[ENVELOPE_KEY];
    if (typeof env !== 'object' || env === null || !Array.isArray(env.args)) return undefined;
    const args = env.args;
    const bin = env.bin;
    if (bin === undefined) return args;
    if (!Array.isArray(bin) || !bin.every((b) => typeof b === 'object' && b !== null && Array.isArray(b.at) && b.at.length > 0 && typeof b.b64 === 'string')) return undefined;
    if (
      bin.length > 0 &&
      placeBinary(
        args,
        bin.map((b) => b.at),
        bin.map((b) => fromBase64(b.b64)),
      ) !== undefined
    )
      return undefined;
    return args;
  } catch {
    return undefined; // not an envelope this library wrote: the caller sends the stored JSON as it is
  }
}

/** The arguments of a stored message's `data`, as the application gave them (R5.8.6). */
export function storedArgs(data: unknown): unknown[] {
  if (typeof data === 'object' && data !== null && looksLikeEnvelope(data)) return openEnvelope(JSON.stringify(data)) ?? [data];
  return [data];
}

type NodeBuffer = { from(s: string, e: string): Uint8Array; from(a: Uint8Array): Uint8Array & { toString(e: string): string } };
const NodeBuf = (globalThis as { Buffer?: NodeBuffer }).Buffer;

function toBase64(b: Uint8Array): string {
  if (NodeBuf) return (NodeBuf.from(b) as unknown as { toString(e: string): string }).toString('base64');
  let s = '';
  for (let i = 0; i < b.length; i += 8192) s += String.fromCharCode(...b.subarray(i, i + 8192));
  return btoa(s);
}

function fromBase64(s: string): Uint8Array {
  if (NodeBuf) return NodeBuf.from(s, 'base64');
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
