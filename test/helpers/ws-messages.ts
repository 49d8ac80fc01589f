/**
 * What a plain `ws` client receives, for tests written from the spec: every message with its
 * bytes and its frame (a binary message split by the documented layout of §4.9), and a bounded
 * wait for the next `n` kept messages.
 */
import type { WebSocket } from 'ws';
import { readBinary } from '../parity/binary-wire.js';

/** One received message. */
export interface Message {
  binary: boolean;
  /** The message's bytes. */
  raw: Buffer;
  frame: Record<string, any>;
  /** A binary message's attachments. */
  parts: Buffer[];
}

/**
 * Collect the messages of `ws` that `keep` keeps (it may also act on any message, e.g. answer a
 * `welcome`); `next(n)` takes the next `n` kept, failing after `timeoutMs`.
 */
export function received(ws: WebSocket, keep: (m: Message) => boolean): { next(n: number, timeoutMs?: number): Promise<Message[]> } {
  const kept: Message[] = [];
  let wake: (() => void) | undefined;
  ws.on('message', (data: Buffer, binary: boolean) => {
    const m: Message = binary ? { binary, raw: data, ...readBinary(data) } : { binary, raw: data, frame: JSON.parse(data.toString('utf8')) as Record<string, any>, parts: [] };
    if (keep(m)) kept.push(m);
    wake?.();
  });
  const next = (n: number, timeoutMs = 5000): Promise<Message[]> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${kept.length} of ${n} messages within ${timeoutMs} ms`)), timeoutMs);
      const check = (): void => {
        if (kept.length < n) return;
        clearTimeout(timer);
        wake = undefined;
        resolve(kept.splice(0, n));
      };
      wake = check;
      check();
    });
  return { next };
}
