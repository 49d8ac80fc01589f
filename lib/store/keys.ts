/**
 * Storage keys built from several names (D6): every name is length-prefixed, never joined
 * with a separator, so no choice of names can make two keys equal (room `jobs\u0000group:x`
 * with consumer `y` and room `jobs` with consumer `x\u0000group:y` are different keys).
 *
 * - `compositeKey(...)`: a string key for in-memory maps (length in UTF-16 units, then the text).
 * - `roomKey`, `nameKey`, `offsetKey`: binary LMDB keys. A room's key is the length-prefixed
 *   UTF-8 namespace and room (4-byte big-endian byte counts; UTF-16LE, flagged in the count,
 *   for a name with a lone surrogate); when it would pass
 *   `MAX_ROOM_KEY` bytes it is replaced by 0xFF + its SHA-256, and a name part (consumer name,
 *   idempotency key) longer than `MAX_NAME_PART` likewise. A plain encoding starts with 0x00
 *   or 0x80 (no name reaches 16 MiB), a hashed one with 0xFF, so all stay prefix-free: the keys of
 *   one room are exactly the keys starting with its room key. The longest key (an expiry
 *   entry: 8-byte time + room key + name part) is 8 + 1,024 + 512 bytes: under LMDB's
 *   1,978-byte limit for any names.
 */
import { createHash } from 'node:crypto';

/** An unambiguous map key for a list of strings (length-prefixed, so no separator can collide). */
export function compositeKey(...parts: string[]): string {
  let k = '';
  for (const p of parts) k += `${p.length}:${p}`;
  return k;
}

/** Longest plain room key (length-prefixed ns + room); longer ones are hashed. */
export const MAX_ROOM_KEY = 1024;
/** Longest plain name part (length-prefixed consumer name or idempotency key); longer ones are hashed. */
export const MAX_NAME_PART = 512;
const HASHED = 0xff;

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
/** Set in the length of a name written as UTF-16LE (it has a lone surrogate, which UTF-8 cannot hold). */
const UTF16 = 0x8000_0000;

/**
 * 4-byte big-endian byte length, then the bytes: UTF-8, or UTF-16LE (top bit of the length
 * set) for a string with a lone surrogate, since UTF-8 would turn every lone surrogate into
 * the same U+FFFD and make `"\ud800"` and `"\ud801"` one key.
 */
function lengthPrefixed(s: string): Buffer {
  const wide = LONE_SURROGATE.test(s);
  const body = Buffer.from(s, wide ? 'utf16le' : 'utf8');
  const b = Buffer.allocUnsafe(4 + body.length);
  b.writeUInt32BE((body.length | (wide ? UTF16 : 0)) >>> 0, 0);
  body.copy(b, 4);
  return b;
}

/** `b` itself when at most `max` bytes, else 0xFF + SHA-256(b) (33 bytes). */
function fit(b: Buffer, max: number): Buffer {
  if (b.length <= max) return b;
  return Buffer.concat([Buffer.from([HASHED]), createHash('sha256').update(b).digest()]);
}

/** The key prefix of one room's log (prefix-free: no room key is a prefix of another). */
export function roomKey(ns: string, room: string): Buffer {
  return fit(Buffer.concat([lengthPrefixed(ns), lengthPrefixed(room)]), MAX_ROOM_KEY);
}

/** The prefix every plain room key of namespace `ns` starts with (hashed long keys do not: they start with 0xFF). */
export function nsPrefix(ns: string): Buffer {
  return lengthPrefixed(ns);
}

/** Room key + a name (consumer name, idempotency key). */
export function nameKey(room: Buffer, name: string): Buffer {
  return Buffer.concat([room, fit(lengthPrefixed(name), MAX_NAME_PART)]);
}

/** Room key + an offset (8 bytes big-endian, so keys sort by offset). */
export function offsetKey(room: Buffer, offset: number): Buffer {
  const b = Buffer.allocUnsafe(room.length + 8);
  room.copy(b, 0);
  b.writeUInt32BE(Math.floor(offset / 0x1_0000_0000), room.length);
  b.writeUInt32BE(offset >>> 0, room.length + 4);
  return b;
}

/** The offset at the end of an `offsetKey`. */
export function offsetOf(key: Buffer): number {
  return key.readUInt32BE(key.length - 8) * 0x1_0000_0000 + key.readUInt32BE(key.length - 4);
}

/** A time (ms) as an 8-byte big-endian prefix, then `rest` (for keys swept in time order). */
export function timeKey(ms: number, rest: Buffer): Buffer {
  const b = Buffer.allocUnsafe(8 + rest.length);
  const t = Math.max(0, Math.floor(ms));
  b.writeUInt32BE(Math.floor(t / 0x1_0000_0000), 0);
  b.writeUInt32BE(t >>> 0, 4);
  rest.copy(b, 8);
  return b;
}

/** The smallest key greater than every key starting with `prefix` (for range ends). */
export function prefixEnd(prefix: Buffer): Buffer {
  const b = Buffer.from(prefix);
  for (let i = b.length - 1; i >= 0; i--) {
    if (b[i]! < 0xff) {
      b[i]!++;
      return b.subarray(0, i + 1);
    }
  }
  return Buffer.concat([b, Buffer.from([0xff])]);
}

/** The name of a name part (`nameKey`'s tail): decoded, or `sha256:<hex>` when it was hashed for length. */
export function nameOf(part: Buffer): string {
  if (part[0] === HASHED) return `sha256:${part.subarray(1).toString('hex')}`;
  const n = part.readUInt32BE(0);
  const wide = (n & UTF16) !== 0;
  const len = n & ~UTF16;
  return part.subarray(4, 4 + len).toString(wide ? 'utf16le' : 'utf8');
}
