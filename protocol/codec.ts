/**
 * The codec: the only place wsq/1 frames are parsed from or written to JSON.
 * Decoding validates with the zod schemas and turns every failure into an error frame
 * a person can act on (`bad_json`, `bad_frame`, `unknown_type`).
 */
import type { z } from 'zod';
import {
  CLIENT_FRAMES,
  dataProblem,
  EMIT_RULES,
  isRequestIdString,
  isReservedRoom,
  nameProblem,
  ServerFrame,
  type ClientFrame,
  type EmitFrame,
  type ErrorFrame,
  type RequestId,
} from './frames.js';
import { ERROR_CODES, isReservedEvent, type ErrorCode } from './codes.js';
import { argFields, encodeWithBinary, isEnvelopeJson, markBinary, openEnvelope, placeBinary, splitBinaryMessage, type BinPath } from './binary.js';

/** A frame that could not be decoded, as the error frame to send back. */
export interface DecodeError {
  ok: false;
  error: ErrorFrame;
}
export type Decoded<T> = { ok: true; frame: T } | DecodeError;

/** Build an error frame; `message` defaults to the code's sentence from the codes table. */
export function errorFrame(code: ErrorCode, message?: string, id?: RequestId, details?: unknown): ErrorFrame {
  const f: ErrorFrame = { type: 'error', code, message: message ?? ERROR_CODES[code] };
  if (id !== undefined) f.id = id;
  if (details !== undefined) f.details = details;
  return f;
}

/** Own properties only: a frame's field is never looked up on Object.prototype (R?: "constructor", "__proto__"). */
function own(obj: Record<string, unknown>, key: string): unknown {
  return Object.hasOwn(obj, key) ? obj[key] : undefined;
}

/** The client frame schemas by type, in a Map: a `type` such as "constructor" or "__proto__" finds nothing. */
const SCHEMAS: ReadonlyMap<string, z.ZodObject> = new Map(Object.entries(CLIENT_FRAMES));

function pickId(obj: Record<string, unknown>): RequestId | undefined {
  const id = own(obj, 'id');
  if (typeof id === 'number' && Number.isSafeInteger(id)) return id;
  // R1.12: a string id is echoed when it is a valid id (at most 64 UTF-8 bytes), measured as the schema measures it.
  if (typeof id === 'string' && isRequestIdString(id)) return id;
  return undefined;
}

/** Edit distance of two short strings (for "did you mean"; the config's unknown keys use it too). */
export function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

/**
 * Turn zod issues into one sentence: an unknown field is named first (with the allowed field it
 * most likely meant), since a typo like "rom" also makes "room" look missing. All issues go to `details`.
 */
function describeIssues(type: string, issues: z.core.$ZodIssue[], allowed: string[]): string {
  const unknown = issues.find((i) => i.code === 'unrecognized_keys');
  if (unknown && unknown.code === 'unrecognized_keys') {
    // Only short names are compared (a field name is short; a huge key must not cost CPU), and names are cut in the message.
    const hints = unknown.keys.slice(0, 5).map((k) => {
      const near =
        k.length > 32 ? undefined : allowed.filter((a) => Math.abs(a.length - k.length) <= 2 && editDistance(a, k) <= 2).sort((x, y) => editDistance(x, k) - editDistance(y, k))[0];
      const shown = k.length > 64 ? `${k.slice(0, 64)}…` : k;
      return near ? `"${shown}" (did you mean "${near}"?)` : `"${shown}"`;
    });
    return `${type}: unknown field ${hints.join(', ')}. Allowed fields: ${allowed.join(', ')}.`;
  }
  const first = issues[0]!;
  const field = first.path.map(String).join('.');
  // A cross-field rule names its fields itself (R4.3.5, R4.3.7, R4.5.2, R5.7.5).
  if (!field) return `${type}: ${first.message}.`.replace(/\.\.$/, '.');
  // R7.4: the field's message says what was expected and what came ("must be a string; got the number 123").
  return `${type}: "${field}" ${first.message.charAt(0).toLowerCase()}${first.message.slice(1)}.`.replace(/\.\.$/, '.');
}

/**
 * Decode one text frame from a client. Never throws.
 * @example
 * const r = decodeClientFrame('{"type":"ping"}');
 * if (r.ok) handle(r.frame); else send(encodeFrame(r.error));
 */
export function decodeClientFrame(text: string, parts?: readonly Uint8Array[]): Decoded<ClientFrame> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return { ok: false, error: errorFrame('bad_json', `The frame is not valid JSON (${(e as Error).message}). Send one JSON object per text frame, e.g. {"type":"ping"}.`) };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, error: errorFrame('bad_frame', 'A frame must be a JSON object with a "type", e.g. {"type":"ping"}.') };
  }
  const obj = value as Record<string, unknown>;
  const id = pickId(obj);
  const type = own(obj, 'type');
  if (typeof type !== 'string') {
    return { ok: false, error: errorFrame('bad_frame', 'The frame has no "type" string. Every frame needs one, e.g. {"type":"ping"}.', id) };
  }
  // R1.13: nesting and non-finite numbers are checked before anything else reads the values.
  for (const key of Object.keys(obj)) {
    const problem = dataProblem(obj[key]);
    if (problem) return { ok: false, error: errorFrame('bad_frame', `${SCHEMAS.has(type) ? type : 'frame'}: "${key.length > 64 ? `${key.slice(0, 64)}…` : key}" ${problem}.`, id) };
  }
  const schema = SCHEMAS.get(type);
  if (!schema) {
    return { ok: false, error: errorFrame('unknown_type', `Unknown frame type "${type.slice(0, 64)}". Use one of: ${Object.keys(CLIENT_FRAMES).join(', ')}.`, id) };
  }
  if (type === 'emit' && parts === undefined) {
    const fast = fastEmit(obj);
    if (fast) return { ok: true, frame: fast };
  }
  const parsed = schema.safeParse(obj);
  if (!parsed.success) {
    const allowed = Object.keys(schema.shape);
    const cut = (s: string): string => (s.length > 200 ? `${s.slice(0, 200)}…` : s);
    const issues = parsed.error.issues.slice(0, 10).map((i) => ({ path: cut(i.path.map(String).join('.')), code: i.code, message: cut(i.message) }));
    return { ok: false, error: errorFrame('bad_frame', describeIssues(type, parsed.error.issues, allowed), id, { issues }) };
  }
  const frame = parsed.data as ClientFrame & { bin?: BinPath[] };
  // R4.9.3: `bin` (the places of the attachments) comes only in a binary message, and a binary message always has it.
  if (frame.bin !== undefined || parts !== undefined) {
    const problem =
      parts === undefined
        ? 'carries "bin" in a text message; "bin" lists the attachments of a binary message (PROTOCOL.md §4.9), so send the frame that way or drop "bin"'
        : frame.bin === undefined
          ? 'comes in a binary message but has no "bin" listing where its attachments go; list one path per attachment (PROTOCOL.md §4.9)'
          : binProblem(frame as unknown as Record<string, unknown>, frame.bin, parts);
    if (problem) return { ok: false, error: errorFrame('bad_frame', `${type}: the frame ${problem}.`, id) };
    delete frame.bin;
    markBinary(frame);
  }
  return { ok: true, frame };
}

/**
 * The common text `emit` without zod: a frame with only the fields type, event, data, room, ns,
 * volatile, echo, key and id that this check proves valid, built as `EmitFrame.parse` builds it
 * (the schema's field order, the same `data`). Anything else (`args`, `bin`, an unknown field, a
 * bad value) is undefined and goes to the schema, the one definition of validity: this accepts a
 * subset of what it accepts (test/unit/codec-fast-emit.test.ts). `dataProblem` was checked before.
 */
function fastEmit(obj: Record<string, unknown>): EmitFrame | undefined {
  let n = 1;
  const { event, data, room, ns, volatile, echo, key, id } = obj;
  if (typeof event !== 'string' || nameProblem('event', event) !== undefined || isReservedEvent(event)) return undefined;
  n++;
  if (data !== undefined) n++;
  if (room !== undefined) {
    if (typeof room !== 'string' || nameProblem('room', room) !== undefined || isReservedRoom(room)) return undefined;
    n++;
  }
  if (ns !== undefined) {
    if (typeof ns !== 'string' || nameProblem('namespace', ns) !== undefined) return undefined;
    n++;
  }
  if (volatile !== undefined) {
    if (typeof volatile !== 'boolean') return undefined;
    n++;
  }
  if (echo !== undefined) {
    if (typeof echo !== 'boolean') return undefined;
    n++;
  }
  if (key !== undefined) {
    if (typeof key !== 'string' || nameProblem('key', key) !== undefined) return undefined;
    n++;
  }
  if (id !== undefined) {
    if (typeof id === 'number' ? !Number.isSafeInteger(id) : typeof id !== 'string' || !isRequestIdString(id)) return undefined;
    n++;
  }
  // Every own key is one of the above (strict object), none of them inherited; then the schema's own cross-field rules.
  let keys = 0;
  for (const k in obj) if (Object.hasOwn(obj, k)) keys++;
  if (keys !== n || !Object.hasOwn(obj, 'event')) return undefined;
  for (const rule of EMIT_RULES) if (rule.broken(obj)) return undefined;
  const f: EmitFrame = { type: 'emit', event };
  if (data !== undefined) f.data = data;
  if (room !== undefined) f.room = room;
  if (ns !== undefined) f.ns = ns;
  if (volatile !== undefined) f.volatile = volatile;
  if (echo !== undefined) f.echo = echo;
  if (key !== undefined) f.key = key;
  if (id !== undefined) f.id = id as number | string;
  return f;
}

/** Where the attachments of a binary message go (R4.9.3): paths into `data` or `args` only, each at a null. */
function binProblem(frame: Record<string, unknown>, paths: readonly BinPath[], parts: readonly Uint8Array[]): string | undefined {
  for (const p of paths) if (p[0] !== 'data' && p[0] !== 'args') return `has a "bin" path that starts with ${JSON.stringify(p[0])}; a path starts with "data" or "args"`;
  return placeBinary(frame, paths, parts);
}

/**
 * Decode one binary message from a client (R4.9): its attachment layout, then its frame as
 * `decodeClientFrame` does, with the attachments put in place (Node Buffers, views of `msg`).
 * A message that does not follow the layout is `unsupported_frame` (R2.3.1). Never throws.
 */
export function decodeClientBinary(msg: Uint8Array): Decoded<ClientFrame> {
  const split = splitBinaryMessage(msg);
  if (!split.ok) {
    return {
      ok: false,
      error: errorFrame(
        'unsupported_frame',
        `The binary message is not a wsq/1 binary message: ${split.problem}. Send JSON frames as text; a binary message starts with its attachment count and lengths and ends with the frame's JSON (PROTOCOL.md §4.9).`,
      ),
    };
  }
  return decodeClientFrame(split.json, split.parts.map(asBuffer));
}

/** A Node Buffer view of the bytes where Buffer exists (what Socket.IO hands a Node application), else the view itself. */
function asBuffer(b: Uint8Array): Uint8Array {
  const B = (globalThis as { Buffer?: { from(a: ArrayBufferLike, o: number, l: number): Uint8Array } }).Buffer;
  return B ? B.from(b.buffer, b.byteOffset, b.byteLength) : b;
}

/** Decode one text frame from a server (used by the client SDK and the tests). Never throws. */
export function decodeServerFrame(text: string): Decoded<ServerFrame> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return { ok: false, error: errorFrame('bad_json', `The server sent invalid JSON (${(e as Error).message}).`) };
  }
  const parsed = ServerFrame.safeParse(value);
  if (!parsed.success) {
    const first = parsed.error.issues[0]!;
    return {
      ok: false,
      error: errorFrame('bad_frame', `The server sent a frame that does not match wsq/1: ${first.path.join('.')} ${first.message}.`, undefined, { issues: parsed.error.issues }),
    };
  }
  return { ok: true, frame: parsed.data };
}

/** What a client reads from a server (R1.4): a frame, or a frame of a type it does not know, to ignore. */
export type ReadServerFrame = Decoded<ServerFrame> | { ok: true; frame: undefined; unknownType: string };

const SERVER_TYPES: ReadonlySet<string> = new Set(ServerFrame.options.map((o) => o.shape.type.value));

/**
 * Decode a server frame as a client must (R1.4): fields this revision does not define are
 * dropped (at any depth) and a frame of an unknown `type` comes back as `unknownType` to be
 * ignored, so a newer 1.x server's optional additions never break an older client. Anything
 * else that does not match wsq/1 is an error, as in `decodeServerFrame`. Never throws.
 * @example
 * const r = readServerFrame(text);
 * if (r.ok && r.frame) route(r.frame); // r.ok && !r.frame: a newer server's frame type, ignored
 */
export function readServerFrame(text: string): ReadServerFrame {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return { ok: false, error: errorFrame('bad_json', `The server sent invalid JSON (${(e as Error).message}).`) };
  }
  const type = typeof value === 'object' && value !== null && Object.hasOwn(value, 'type') ? (value as { type: unknown }).type : undefined;
  if (typeof type === 'string' && !SERVER_TYPES.has(type)) return { ok: true, frame: undefined, unknownType: type.slice(0, 64) };
  // Unknown keys are reported by the strict schema with their paths: drop them and parse again (a few rounds at most: one per depth).
  for (let round = 0; round < 8; round++) {
    const parsed = ServerFrame.safeParse(value);
    if (parsed.success) return { ok: true, frame: parsed.data };
    const unknown = parsed.error.issues.filter((i) => i.code === 'unrecognized_keys');
    if (unknown.length === 0 || unknown.length !== parsed.error.issues.length) break;
    for (const issue of unknown) {
      let at: unknown = value;
      for (const k of issue.path) at = (at as Record<PropertyKey, unknown>)?.[k as PropertyKey];
      if (typeof at === 'object' && at !== null) for (const k of issue.keys) delete (at as Record<string, unknown>)[k];
    }
  }
  return decodeServerFrame(text);
}

/**
 * Decode a binary message from a server as a client must (R4.9, R1.4): its layout, then its frame as
 * `readServerFrame` reads it, with the attachments put at their `bin` paths (Node Buffers, else
 * ArrayBuffers, as Socket.IO hands them over) and `bin` removed. Never throws.
 */
export function readServerBinary(msg: Uint8Array): ReadServerFrame {
  const split = splitBinaryMessage(msg);
  if (!split.ok)
    return {
      ok: false,
      error: errorFrame('unsupported_frame', `The server sent a binary message that is not a wsq/1 binary message (PROTOCOL.md §4.9): ${split.problem}. It was ignored.`),
    };
  const r = readServerFrame(split.json);
  if (!r.ok || r.frame === undefined) return r;
  const f = r.frame as ServerFrame & { bin?: BinPath[] };
  const problem = f.bin === undefined ? 'it has no "bin"' : placeBinary(f as unknown as Record<string, unknown>, f.bin, split.parts.map(received));
  if (problem) return { ok: false, error: errorFrame('bad_frame', `The server sent a binary message whose frame does not place its attachments: ${problem}.`) };
  delete f.bin;
  return r;
}

/** An attachment as the application receives it: a Node Buffer (a copy), else an ArrayBuffer. */
function received(b: Uint8Array): unknown {
  const B = (globalThis as { Buffer?: { from(a: Uint8Array): Uint8Array } }).Buffer;
  return B ? B.from(b) : b.slice().buffer;
}

/** Write any frame as JSON text. */
export function encodeFrame(frame: object): string {
  return JSON.stringify(frame);
}

/** The fields of a stored message's `event` frame, all but `data`. */
export interface StoredEventFields {
  ns: string;
  room: string;
  event: string;
  offset: number;
  epoch: string;
  from?: string;
  ts: number;
  replay?: boolean;
}

/**
 * Encode a stored message's `event` frame around `data` already serialized to JSON, so a
 * message's data is serialized once (the store's size accounting uses the same string).
 * Field order and output match `encodeFrame` of the same frame.
 */
export function encodeStoredEvent(f: StoredEventFields, dataJson: string): string {
  // R5.8.6: a stored envelope (several arguments, or binary values) is one `startsWith` away; plain JSON pays nothing more.
  if (isEnvelopeJson(dataJson)) {
    const args = openEnvelope(dataJson);
    if (args) return encodeStoredArgs(f, args);
  }
  const q = JSON.stringify;
  return `{"type":"event","ns":${q(f.ns)},"room":${q(f.room)},"event":${q(f.event)},"data":${dataJson},"offset":${f.offset},"epoch":${q(f.epoch)}${f.from === undefined ? '' : `,"from":${q(f.from)}`},"ts":${f.ts}${f.replay ? ',"replay":true' : ''}}`;
}

/** A stored message as JSON text: its event name and sender as JSON string literals, its data's JSON as stored. */
export interface StoredEventJson {
  offset: number;
  ts: number;
  eventJson: string;
  fromJson?: string;
  json: string;
}

/**
 * The replayed `event` frames of one room's log (`replay: true`): the same text as
 * `encodeStoredEvent` of each message, built around the JSON the store kept (nothing parsed),
 * with the room's part of the frame written once.
 * @example
 * const frame = replayEncoder('/', 'chat', 'e1');
 * frame({ offset: 1, ts: 5, eventJson: '"msg"', json: '{"a":1}' });
 * // → '{"type":"event","ns":"/","room":"chat","event":"msg","data":{"a":1},"offset":1,"epoch":"e1","ts":5,"replay":true}'
 */
export function replayEncoder(ns: string, room: string, epoch: string): (m: StoredEventJson) => string {
  const q = JSON.stringify;
  const head = `{"type":"event","ns":${q(ns)},"room":${q(room)},"event":`;
  const ep = `,"epoch":${q(epoch)}`;
  return (m) => {
    const { eventJson, fromJson, json } = m;
    if (isEnvelopeJson(json)) {
      // R5.8.6: arguments or binary values: the frame is built from the opened envelope.
      const from = fromJson === undefined ? undefined : (JSON.parse(fromJson) as string);
      return encodeStoredEvent({ ns, room, event: JSON.parse(eventJson) as string, offset: m.offset, epoch, from, ts: m.ts, replay: true }, json);
    }
    return `${head}${eventJson},"data":${json},"offset":${m.offset}${ep}${fromJson === undefined ? '' : `,"from":${fromJson}`},"ts":${m.ts},"replay":true}`;
  };
}

/**
 * Add a delivery `id` (and `attempt`) to an already encoded `event` frame without
 * re-encoding it: the frame is encoded once per message and this splices the per-recipient
 * fields in front of the closing brace.
 */
export function withDelivery(encodedEvent: string, id: RequestId, attempt?: number): string {
  const tail = attempt === undefined ? '' : `,"attempt":${attempt}`;
  return `${encodedEvent.slice(0, -1)},"id":${JSON.stringify(id)}${tail}}`;
}

/** A stored message held as an envelope (R5.8.6): its `event` frame with `data`/`args`, as a binary message when it has binary values. */
function encodeStoredArgs(f: StoredEventFields, args: readonly unknown[]): string {
  const { fields, parts } = argFields(args, true);
  const frame: Record<string, unknown> = { type: 'event', ns: f.ns, room: f.room, event: f.event, ...fields, offset: f.offset, epoch: f.epoch };
  if (f.from !== undefined) frame.from = f.from;
  frame.ts = f.ts;
  if (f.replay) frame.replay = true;
  return encodeWithBinary(frame, parts);
}

/**
 * Encode a server frame around argument values given by the application (R4.5.10, R4.9): one
 * value is `data`, another count is `args` (an `event` also gets `data`, the first value or null);
 * binary values make it a binary message (a wire text starting with U+0000, see protocol/binary.ts).
 * `tail` fields follow the argument fields.
 * @example
 * encodeArgsFrame({ type: 'event', ns: '/', event: 'e' }, ['a', 2], { ts: Date.now() });
 */
export function encodeArgsFrame(head: Record<string, unknown>, args: readonly unknown[], tail: Record<string, unknown> = {}, withData = head.type === 'event'): string {
  const { fields, parts } = argFields(args, withData);
  return encodeWithBinary({ ...head, ...fields, ...tail }, parts);
}
