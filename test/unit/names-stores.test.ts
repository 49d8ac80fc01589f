/**
 * D3 / I7 #12: every name the schema accepts works on every store. The longest names of
 * each kind, in 4-byte and 2-byte characters (256 UTF-8 bytes are 64 emoji: 128 UTF-16
 * units), go through join, stored emit with a key, replay, a consumer group and its
 * dead-letter room `$dead:<room>` (longer than 256 bytes by its prefix), over a real socket
 * on the memory and the disk store (R1.7).
 */
import t from 'tap';
import { LIMITS, nameProblem, utf8Bytes } from '../../protocol/frames.js';
import { eventIn, storeOptions, STORES, waitFrames } from '../helpers/logs.js';
import { rawClient, startServer } from '../helpers/server.js';

const emoji = '😀';
/** The longest names: exactly at each byte limit, in characters wider than one byte. */
const longest = {
  ns: `/${'é'.repeat((LIMITS.namespaceBytes - 1) / 2 - 0.5)}a`, // "/" + 127 × 2 bytes + 1 = 256
  room: emoji.repeat(LIMITS.roomBytes / 4),
  event: `${'€'.repeat(85)}a`, // 255 + 1
  group: emoji.repeat(LIMITS.groupBytes / 4),
  key: 'é'.repeat(LIMITS.keyBytes / 2),
};

t.test('the longest names are at their limits and valid', async (t) => {
  t.equal(utf8Bytes(longest.ns), LIMITS.namespaceBytes, 'namespace: 256 bytes');
  t.equal(utf8Bytes(longest.room), LIMITS.roomBytes, 'room: 256 bytes');
  t.equal(utf8Bytes(longest.event), LIMITS.eventBytes, 'event: 256 bytes');
  t.equal(utf8Bytes(longest.group), LIMITS.groupBytes, 'group: 128 bytes');
  t.equal(utf8Bytes(longest.key), LIMITS.keyBytes, 'key: 128 bytes');
  for (const [kind, v] of [
    ['namespace', longest.ns],
    ['room', longest.room],
    ['event', longest.event],
    ['group', longest.group],
    ['key', longest.key],
  ] as const) {
    t.equal(nameProblem(kind, v), undefined, `${kind} is valid`);
  }
});

for (const kind of STORES) {
  t.test(`R1.7 the longest non-ASCII names work on the ${kind} store`, async (t) => {
    const { url } = await startServer(t, { ...(await storeOptions(t, kind)), maxDeliver: 1, ackTimeoutMs: 200 });
    const { ns, room, event, group, key } = longest;
    const a = await rawClient(t, url);
    const b = await rawClient(t, url);
    for (const c of [a, b]) t.equal((await c.request({ type: 'connect', ns })).type, 'connected', 'connected to the longest namespace');
    const live = await a.request({ type: 'join', ns, room });
    t.equal(live.type, 'joined', 'joined the longest room');
    const first = await b.request({ type: 'emit', ns, room, event, data: { n: 1 }, key });
    t.equal(first.type, 'ack', 'a stored emit with the longest event and key is acked');
    t.equal(first.offset, 1);
    const again = await b.request({ type: 'emit', ns, room, event, data: { n: 1 }, key });
    t.equal(again.duplicate, true, 'the resend with the same key is a duplicate');
    const [ev] = await waitFrames(a, eventIn(room), 1);
    t.equal(ev!.event, event, 'the live event carries the longest event name');
    t.equal(ev!.ns, ns);
    // Replay from the store.
    const r = await b.request({ type: 'join', ns, room, since: 0 });
    t.equal(r.type, 'joined', 'a replaying join');
    const [replayed] = await waitFrames(b, (f) => eventIn(room)(f) && f.replay === true, 1);
    t.equal(replayed!.event, event, 'the replayed copy has the same event name');
    t.strictSame(replayed!.data, { n: 1 }, 'and the same data');
    // A consumer group with the longest name; a delivery never acked goes to $dead:<room>.
    const groupRoom = `${emoji.repeat(LIMITS.roomBytes / 4 - 1)}gr!`.slice(0, -1);
    t.equal(nameProblem('room', groupRoom), undefined, 'the group room is valid');
    const g = await a.request({ type: 'join', ns, room: groupRoom, group });
    t.equal(g.type, 'joined', 'joined the longest group');
    t.equal(g.group, group);
    const dead = `$dead:${groupRoom}`;
    t.ok(utf8Bytes(dead) > LIMITS.roomBytes, `the dead-letter room is ${utf8Bytes(dead)} bytes, over 256 by its prefix`);
    const watch = await b.request({ type: 'join', ns, room: dead });
    t.equal(watch.type, 'joined', 'the dead-letter room of the longest room may be joined');
    // A third client publishes: the sender of a message does not get its dead letter live (reported to the core engineer).
    const p = await rawClient(t, url);
    await p.request({ type: 'connect', ns });
    t.equal((await p.request({ type: 'emit', ns, room: groupRoom, event, data: 'job' })).type, 'ack', 'the job is stored');
    const [d] = await waitFrames(a, (f) => eventIn(groupRoom)(f) && f.id !== undefined, 1);
    a.send({ type: 'nack', id: d!.id, requeue: false });
    const [letter] = await waitFrames(b, eventIn(dead), 1, 5000);
    t.equal(letter!.event, event, 'the dead letter keeps its event name');
    t.equal(letter!.data, 'job', 'and its data');
  });
}
