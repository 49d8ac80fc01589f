/**
 * I8 Deliver 8: graceful shutdown under load loses no acked message. Publishers stream acked
 * emits (a window of them in flight each) into several rooms of `wsq serve` on the disk store;
 * SIGTERM comes mid-stream; the process exits 0; a restart on the same directory holds every
 * message whose ack reached its publisher exactly once, at the offset the ack named, and
 * nothing that was not sent. Emits in flight at the signal are either acked (and then there)
 * or answered otherwise / cut by the close (and then there at most once).
 *
 * Needs `dist/` (`npx tsc -p tsconfig.json`).
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { Frame } from '../helpers/raw-client.js';
import { CLI, WAIT_MS, connect, startWsq } from './wsq-process.js';

const PUBLISHERS = 4;
const WINDOW = 32;
const ROOMS = ['a', 'b', 'c'];
/** SIGTERM once this many emits have been acked (all publishers together). */
const TERM_AFTER = 3000;
const ARGS = ['--max-messages', '0', '--max-age-ms', '0', '--max-bytes', '0'];

interface Acked {
  room: string;
  p: number;
  n: number;
  offset: number;
}

t.test('SIGTERM under load: every acked emit survives the restart, once, at its offset', async (tt) => {
  if (!existsSync(CLI)) return tt.fail(`${CLI} is missing: run "npx tsc -p tsconfig.json" first`);
  const dir = await mkdtemp(join(tmpdir(), 'wsq-sigterm-'));
  tt.teardown(() => rm(dir, { recursive: true, force: true }));
  const a = await startWsq(tt, dir, ARGS);

  const acked: Acked[] = [];
  const sent = new Set<string>();
  const answeredOtherwise: Frame[] = [];
  let inflightAtTerm = 0;
  let termed = false;
  const pubs = await Promise.all(Array.from({ length: PUBLISHERS }, () => connect(tt, a.url)));
  const inflight = pubs.map(() => new Map<string, { room: string; n: number }>());
  const counters = pubs.map(() => 0);
  const fill = (p: number): void => {
    const c = pubs[p]!;
    while (!termed && inflight[p]!.size < WINDOW && c.ws.readyState === c.ws.OPEN) {
      const n = counters[p]!++;
      const room = ROOMS[n % ROOMS.length]!;
      const id = `${p}-${n}`;
      inflight[p]!.set(id, { room, n });
      sent.add(`${p}/${n}`);
      c.send({ type: 'emit', room, event: 'm', data: { p, n }, id });
    }
  };
  const term = (): void => {
    termed = true;
    inflightAtTerm = inflight.reduce((k, m) => k + m.size, 0);
    a.proc.kill('SIGTERM');
  };
  pubs.forEach((c, p) => {
    c.ws.on('message', (d: Buffer) => {
      const f = JSON.parse(d.toString()) as Frame;
      if (typeof f.id !== 'string' || !inflight[p]!.has(f.id)) return;
      const e = inflight[p]!.get(f.id)!;
      inflight[p]!.delete(f.id);
      if (f.type === 'ack') {
        acked.push({ room: e.room, p, n: e.n, offset: f.offset as number });
        if (!termed && acked.length >= TERM_AFTER) term();
      } else answeredOtherwise.push(f);
      fill(p);
    });
    fill(p);
  });
  const exit = await Promise.race([a.exited, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('wsq did not exit after SIGTERM')), WAIT_MS).unref())]);
  tt.ok(termed, 'SIGTERM was sent mid-stream');
  tt.same(exit, { code: 0, signal: null }, 'wsq exited 0 after SIGTERM');
  tt.ok(inflightAtTerm > 0, `emits were in flight at the signal (${inflightAtTerm})`);
  tt.match(a.output(), /SIGTERM, shutting down/, 'it said it was shutting down');
  await Promise.all(pubs.map((c) => c.closed));
  tt.ok(
    answeredOtherwise.every((f) => f.type === 'error'),
    'an emit not acked was answered with an error, or cut by the close',
  );

  const b = await startWsq(tt, dir, ARGS);
  const reader = await connect(tt, b.url);
  let total = 0;
  for (const room of ROOMS) {
    const joined = await reader.request({ type: 'join', room, since: 0 }, WAIT_MS);
    const count = (joined.replay?.count as number | undefined) ?? 0;
    const events = await reader.collect((f) => f.type === 'event' && f.room === room, count, WAIT_MS);
    total += events.length;
    const byOffset = new Map(events.map((e) => [e.offset as number, e]));
    const here = acked.filter((x) => x.room === room);
    const lost = here.filter((x) => {
      const e = byOffset.get(x.offset);
      return !e || e.data.p !== x.p || e.data.n !== x.n;
    });
    tt.same(lost, [], `${room}: all ${here.length} acked emits are there, each at the offset its ack named`);
    const keys = events.map((e) => `${e.data.p}/${e.data.n}`);
    tt.equal(new Set(keys).size, keys.length, `${room}: no emit stored twice`);
    tt.same(
      keys.filter((k) => !sent.has(k)),
      [],
      `${room}: nothing stored that was not sent`,
    );
    tt.same(
      events.map((e) => e.offset),
      Array.from({ length: events.length }, (_, i) => i + 1),
      `${room}: offsets 1..${events.length} without a gap`,
    );
  }
  tt.ok(total >= acked.length && total <= acked.length + inflightAtTerm, `stored ${total}: the ${acked.length} acked, plus at most the ${inflightAtTerm} in flight`);
});
