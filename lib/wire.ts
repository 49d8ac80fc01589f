/**
 * The bytes of a wire text (see protocol/binary.ts): a text frame's UTF-8, or a binary message's
 * layout. The server's write paths (connection, adapter) call it once per frame, not per recipient.
 */
import { Buffer } from 'node:buffer';
import { isBinaryWire } from '../protocol/binary.js';

/**
 * The bytes to write for a wire text: `Buffer.from(text)` for a JSON frame (the hot path: one
 * `charCodeAt` more), the prefix and attachments as Latin-1 plus the JSON as UTF-8 for a binary message.
 * @example
 * ws.send(wireBuffer(text), { binary: isBinaryWire(text) });
 */
export function wireBuffer(wire: string): Buffer {
  if (!isBinaryWire(wire)) return Buffer.from(wire);
  const k = ((wire.charCodeAt(0) << 24) | (wire.charCodeAt(1) << 16) | (wire.charCodeAt(2) << 8) | wire.charCodeAt(3)) >>> 0;
  let start = 4 + 4 * k;
  for (let i = 0; i < k; i++) {
    const j = 4 + 4 * i;
    start += ((wire.charCodeAt(j) << 24) | (wire.charCodeAt(j + 1) << 16) | (wire.charCodeAt(j + 2) << 8) | wire.charCodeAt(j + 3)) >>> 0;
  }
  return Buffer.concat([Buffer.from(wire.slice(0, start), 'latin1'), Buffer.from(wire.slice(start), 'utf8')]);
}

/** True when encoded bytes are a binary message (its first byte, the high byte of the attachment count, is 0; JSON starts with "{"). */
export function isBinaryBytes(buf: Uint8Array): boolean {
  return buf[0] === 0;
}

export { isBinaryWire };
