/**
 * PROTOCOL.md R5.8.5, R5.8.6 and R5.3.5 over real sockets with plain `ws` clients: a replayed
 * event is the live event's JSON with `"replay":true`, byte for byte, on the memory and disk
 * stores, with and without permessage-deflate. A replay page is framed into one write where it
 * can be, so the messages cover every WebSocket length class (7-bit, 16-bit and 64-bit payload
 * lengths), multi-byte UTF-8 around the boundaries, `__proto__` keys, escaped lone surrogates,
 * a sender, several arguments and binary values (binary messages, R4.9).
 */
import t from 'tap';
import { WebSocket } from 'ws';
import { StoredArgs } from '../../protocol/binary.js';
import { type Message, received } from '../helpers/ws-messages.js';
import { STORES, storeOptions } from '../helpers/logs.js';
import { startServer } from '../helpers/server.js';

/** A plain ws client that joins room `r` with `join`'s fields and collects every event. */
async function reader(url: string, deflate: boolean, join: Record<string, unknown>): Promise<{ ws: WebSocket; next(n: number, timeoutMs?: number): Promise<Message[]> }> {
  const ws = new WebSocket(url, ['wsq.v1'], { perMessageDeflate: deflate });
  let joined: ((f: Record<string, any>) => void) | undefined;
  const { next: nextWithin } = received(ws, (m) => {
    if (m.frame.type === 'welcome') ws.send(JSON.stringify({ type: 'join', room: 'r', ...join }));
    else if (m.frame.type === 'joined') joined?.(m.frame);
    return m.frame.type === 'event';
  });
  const next = (n: number, timeoutMs = 10_000): Promise<Message[]> => nextWithin(n, timeoutMs);
  const ready = new Promise<Record<string, any>>((resolve) => (joined = resolve));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const j = await Promise.race([ready, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no joined within 5 s')), 5000))]);
  if (j.type !== 'joined') throw new Error(`join failed: ${JSON.stringify(j)}`);
  return { ws, next };
}

// Payload lengths around the frame header's boundaries: 7-bit ≤ 125 | 16-bit 126 … 65,535 | 64-bit ≥ 65,536.
const SIZES = [100, 124, 125, 126, 127, 200, 16_384, 16_400, 49_152, 65_534, 65_535, 65_536, 65_537, 300_000];

/** The messages to store: text of each size (ASCII, then two-byte and four-byte UTF-8), JSON oddities, arguments and bytes. */
function messages(): { event: string; data: unknown; from?: string }[] {
  const out: { event: string; data: unknown; from?: string }[] = [];
  for (const size of SIZES) {
    out.push({ event: 'ascii', data: 'x'.repeat(size) });
    out.push({ event: 'é-two', data: 'é'.repeat(Math.floor(size / 2)) });
    out.push({ event: 'four', data: '😀'.repeat(Math.floor(size / 4)), from: 'sid-"q"\\' });
    out.push({ event: 'bytes', data: Buffer.alloc(size, size & 0xff) });
  }
  out.push({ event: 'proto', data: JSON.parse('{"__proto__":{"x":"\\ud800"},"constructor":1,"a":["\\udfff","\\u0000"]}') });
  out.push({ event: 'lone \ud800 "name"', data: { s: 'a\udc00b' }, from: '\udfff' });
  out.push({ event: 'numbers', data: [0, -1.5, 1e21, 5e-324, 123456789012345680000] });
  out.push({ event: 'looks', data: { $wsq: 'not an envelope' } });
  out.push({ event: 'null', data: null });
  out.push({ event: 'nested-bytes', data: { png: Buffer.from([0, 255, 128]), name: 'x' } });
  return out;
}

for (const kind of STORES) {
  for (const deflate of [false, true]) {
    t.test(
      `R5.8.5 R5.8.6 ${kind} store, permessage-deflate ${deflate ? 'on' : 'off'}: every replayed event is the live event's JSON with "replay":true, of every frame length class, text and binary`,
      async (t) => {
        const { server, url } = await startServer(t, { ...(await storeOptions(t, kind)), ...(deflate ? { perMessageDeflate: { threshold: 0 } } : {}) });
        const live = await reader(url, deflate, {});
        t.teardown(() => live.ws.terminate());
        t.equal(live.ws.extensions !== '', deflate, `permessage-deflate negotiated: ${deflate}`);
        const nsp = server.of('/');
        const sent = messages();
        for (const m of sent) await nsp.publish('r', m.event, m.data, m.from ? { from: m.from } : {});
        // Several arguments, one of them bytes (R4.5.10, R5.8.6): stored as an envelope, replayed as arguments.
        await nsp.publish('r', 'args', new StoredArgs(['a', Buffer.from([1, 2, 3]), { n: 1 }]));
        const liveGot = await live.next(sent.length + 1);
        const rep = await reader(url, deflate, { since: 0 });
        t.teardown(() => rep.ws.terminate());
        const replayed = await rep.next(sent.length + 1);
        t.same(
          replayed.map((g) => g.frame.offset),
          liveGot.map((g) => g.frame.offset),
          'every offset, in order',
        );
        let same = 0;
        for (const [i, r] of replayed.entries()) {
          const l = liveGot[i]!;
          if (r.binary !== l.binary) t.fail(`offset ${l.frame.offset}: binary ${r.binary}, live ${l.binary}`);
          else if (!r.binary) {
            const want = `${l.raw.toString('utf8').slice(0, -1)},"replay":true}`;
            if (r.raw.toString('utf8') === want) same++;
            else t.fail(`offset ${l.frame.offset} (${l.raw.length} bytes): the replayed text is not the live text with "replay":true`);
          } else {
            const parts = r.parts.length === l.parts.length && r.parts.every((p, k) => p.equals(l.parts[k]!));
            if (parts && JSON.stringify(r.frame) === JSON.stringify({ ...l.frame, replay: true })) same++;
            else t.fail(`offset ${l.frame.offset}: the replayed binary message differs from the live one`);
          }
        }
        t.equal(same, replayed.length, 'every replayed event matches its live copy');
      },
    );
  }
}
