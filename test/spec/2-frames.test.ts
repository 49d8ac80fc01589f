/**
 * PROTOCOL.md §2.3 (frames the server sends), over real sockets with plain `ws` clients: a
 * room broadcast is framed once and the same bytes go to every member, so every WebSocket
 * length class (7-bit, 16-bit and 64-bit payload lengths, RFC 6455 §5.2), text and binary,
 * must arrive intact at every member and in the order sent, with or without permessage-deflate.
 */
import t from 'tap';
import { WebSocket } from 'ws';
import { type Message, received } from '../helpers/ws-messages.js';
import { startServer } from '../helpers/server.js';

/** A plain ws client in room `r` of "/", collecting every welcome, joined and event frame it receives. */
async function member(url: string, deflate: boolean): Promise<{ ws: WebSocket; sid: string; next(n: number, timeoutMs?: number): Promise<Message[]> }> {
  const ws = new WebSocket(url, ['wsq.v1'], { perMessageDeflate: deflate });
  const { next } = received(ws, (m) => m.frame.type === 'welcome' || m.frame.type === 'joined' || m.frame.type === 'event');
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const [welcome] = await next(1);
  if (welcome?.frame.type !== 'welcome') throw new Error('no welcome');
  ws.send(JSON.stringify({ type: 'join', room: 'r' }));
  const [joined] = await next(1);
  if (joined?.frame.type !== 'joined') throw new Error(`join failed: ${JSON.stringify(joined?.frame)}`);
  return { ws, sid: String(welcome.frame.sid), next };
}

// WebSocket payload lengths around the frame header's boundaries: 7-bit ≤ 125 | 16-bit 126 … 65,535 | 64-bit ≥ 65,536.
const SIZES = [100, 124, 125, 126, 127, 200, 65_534, 65_535, 65_536, 65_537, 300_000];

for (const deflate of [false, true]) {
  t.test(
    `R2.3.5 a room broadcast of every frame length class, text and binary, reaches every member intact and in order (permessage-deflate ${deflate ? 'on' : 'off'})`,
    async (t) => {
      const { server, url } = await startServer(t, deflate ? { perMessageDeflate: { threshold: 0 } } : {});
      const members = await Promise.all([member(url, deflate), member(url, deflate), member(url, deflate)]);
      t.teardown(() => {
        for (const m of members) m.ws.terminate();
      });
      t.equal(members[0]!.ws.extensions !== '', deflate, `permessage-deflate negotiated: ${deflate}`);
      const nsp = server.of('/');
      // The event frame's bytes around its data (same-length event names), from a probe with empty data.
      nsp.to('r').emit('e000', '');
      const probes = await Promise.all(members.map((m) => m.next(1)));
      const around = probes[0]![0]!.raw.length;
      // Text messages whose whole length lands on each side of a boundary; a binary argument of each size too.
      const sent: { event: string; text?: string; bytes?: Buffer }[] = [];
      for (const [k, size] of SIZES.entries()) {
        const event = `t${String(k).padStart(3, '0')}`;
        const text = 'x'.repeat(size - around);
        nsp.to('r').emit(event, text);
        sent.push({ event, text });
        const bytes = Buffer.alloc(size, k + 1);
        nsp.to('r').emit(`b${String(k).padStart(3, '0')}`, bytes);
        sent.push({ event: `b${String(k).padStart(3, '0')}`, bytes });
      }
      for (const [i, m] of members.entries()) {
        const got = await m.next(sent.length);
        t.same(
          got.map((g) => g.frame.event),
          sent.map((s) => s.event),
          `member ${i}: every event, in the order sent`,
        );
        for (const [j, s] of sent.entries()) {
          const g = got[j]!;
          if (s.text !== undefined) {
            if (g.binary || g.frame.data !== s.text) t.fail(`member ${i}: ${s.event} (${s.text.length} chars) arrived altered`);
          } else if (!g.binary || !g.parts[0]?.equals(s.bytes!)) t.fail(`member ${i}: ${s.event} (${s.bytes!.length} bytes) arrived altered`);
        }
        t.pass(`member ${i}: every payload intact`);
      }
    },
  );
}

t.test('R2.3.5 frames to one socket and room broadcasts interleave in the order the server sent them', async (t) => {
  const { server, url } = await startServer(t);
  const a = await member(url, false);
  const b = await member(url, false);
  t.teardown(() => {
    a.ws.terminate();
    b.ws.terminate();
  });
  const nsp = server.of('/');
  const socketA = nsp.sockets.get(a.sid);
  if (!socketA) throw new Error('no server socket for member a');
  const order: string[] = [];
  for (let i = 0; i < 50; i++) {
    nsp.to('r').emit(`room${i}`, i);
    order.push(`room${i}`);
    if (i % 3 === 0) {
      socketA.emit(`direct${i}`, i);
      order.push(`direct${i}`);
    }
  }
  const gotA = await a.next(order.length);
  t.same(
    gotA.map((g) => g.frame.event),
    order,
    'a: room broadcasts and its own frames in the order sent',
  );
  const gotB = await b.next(50);
  t.same(
    gotB.map((g) => g.frame.event),
    order.filter((e) => e.startsWith('room')),
    'b: the broadcasts only',
  );
});

t.test('R2.3.5 frames to one socket of every length class, with non-ASCII text, arrive intact', async (t) => {
  const { server, url } = await startServer(t);
  const a = await member(url, false);
  t.teardown(() => a.ws.terminate());
  const socketA = server.of('/').sockets.get(a.sid);
  if (!socketA) throw new Error('no server socket for member a');
  socketA.emit('e000', '');
  const around = (await a.next(1))[0]!.raw.length;
  const sent: string[] = [];
  for (const [k, size] of SIZES.entries()) {
    // "é" is 2 bytes of UTF-8: the frame length counts bytes, not characters.
    const text = 'é'.repeat(Math.floor((size - around) / 2)) + 'x'.repeat((size - around) % 2);
    socketA.emit(`t${String(k).padStart(3, '0')}`, text);
    sent.push(text);
  }
  const got = await a.next(sent.length);
  for (const [k, text] of sent.entries()) {
    const g = got[k]!;
    t.ok(!g.binary && g.frame.data === text && g.raw.length === SIZES[k], `a ${SIZES[k]}-byte message arrived intact`);
  }
});
