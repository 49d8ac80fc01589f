/**
 * PROTOCOL.md §5.6 Retention, over real sockets, for both embedded stores: maxMessages,
 * maxBytes and maxAgeMs (with an injected clock, no sleeps), overflow drop-oldest and
 * reject (queue_full), and per-namespace / per-room-pattern overrides.
 */
import t, { type Test } from 'tap';
import type { RawClient } from '../helpers/raw-client.js';
import { barrier, eventIn, offsets, publish, publishMany, storeOptions, STORES, waitFrames, type StoreKind, type StoreSetup } from '../helpers/logs.js';
import { rawClient, startServer } from '../helpers/server.js';

async function setup(t: Test, kind: StoreKind, s: StoreSetup) {
  const { server, url } = await startServer(t, await storeOptions(t, kind, s));
  return { server, url, pub: await rawClient(t, url) };
}

/** What a fresh client sees when it joins `room` with since "earliest": the joined frame and the held offsets. */
async function held(t: Test, url: string, room: string, ns?: string) {
  const c: RawClient = await rawClient(t, url);
  if (ns) await c.request({ type: 'connect', ns });
  const joined = await c.request({ type: 'join', room, since: 'earliest', ...(ns ? { ns } : {}) });
  const n = joined.replay?.count ?? 0;
  if (n > 0) await waitFrames(c, eventIn(room), n);
  await barrier(c);
  return { joined, offsets: offsets(c.seen(eventIn(room))), events: c.seen(eventIn(room)) };
}

for (const kind of STORES) {
  t.test(`5.6 maxMessages with drop-oldest keeps the last K (${kind} store)`, async (t) => {
    const { url, pub } = await setup(t, kind, { retention: { maxMessages: 3 } });
    const acks = await publishMany(pub, 'r', 5);
    t.same(offsets(acks), [1, 2, 3, 4, 5], 'every emit is acked: drop-oldest never refuses');
    const h = await held(t, url, 'r');
    t.same(h.offsets, [3, 4, 5], 'replay from earliest shows only the last 3');
    t.same(
      h.events.map((e) => e.data.i),
      [3, 4, 5],
    );
    const c = await rawClient(t, url);
    const j = await c.request({ type: 'join', room: 'r', since: 0 });
    t.equal(j.recovered, false, 'a client that wanted everything learns it lost some');
    t.same(j.gap, { requested: 0, earliest: 3, latest: 5 });
  });

  t.test(`5.6 overflow reject: the publisher gets queue_full and nothing is stored (${kind} store)`, async (t) => {
    const { url, pub } = await setup(t, kind, { retention: { maxMessages: 3, overflow: 'reject' } });
    const member = await rawClient(t, url);
    await member.request({ type: 'join', room: 'r' });
    t.same(offsets(await publishMany(pub, 'r', 3)), [1, 2, 3]);
    const refused = await publish(pub, 'r', 'e', 'fourth');
    t.equal(refused.type, 'error');
    t.equal(refused.code, 'queue_full');
    t.match(refused.message, /full/);
    t.equal((await publish(pub, 'r', 'e', 'fifth')).code, 'queue_full', 'and again while full');
    await waitFrames(member, eventIn('r'), 3);
    await barrier(member);
    t.same(offsets(member.seen(eventIn('r'))), [1, 2, 3], 'members never see a refused message');
    const h = await held(t, url, 'r');
    t.same(h.offsets, [1, 2, 3], 'nothing was stored or trimmed');
    t.equal(h.joined.offset, 3, 'a refusal takes no offset');
  });

  t.test(`5.6 maxBytes trims by payload size (${kind} store)`, async (t) => {
    // size = JSON length of data + event name: 'e' + '"xxxxxxxx"' = 11 bytes; 35 bytes hold 3
    const { url, pub } = await setup(t, kind, {
      retentionRules: [
        { room: 'drop', maxBytes: 35 },
        { room: 'reject', maxBytes: 35, overflow: 'reject' },
      ],
    });
    for (let i = 0; i < 5; i++) t.equal((await publish(pub, 'drop', 'e', 'xxxxxxxx')).type, 'ack');
    t.same((await held(t, url, 'drop')).offsets, [3, 4, 5], 'the oldest are dropped to fit');
    for (let i = 0; i < 3; i++) t.equal((await publish(pub, 'reject', 'e', 'xxxxxxxx')).type, 'ack');
    t.equal((await publish(pub, 'reject', 'e', 'xxxxxxxx')).code, 'queue_full', 'under reject, a message that does not fit is refused');
    t.equal((await publish(pub, 'reject', 'e', null)).code, 'queue_full', 'even a small one: 33 + 5 > 35');
    t.same((await held(t, url, 'reject')).offsets, [1, 2, 3]);
  });

  t.test(`5.6 maxAgeMs drops old messages by the injected clock (${kind} store)`, async (t) => {
    let now = 1_700_000_000_000;
    const { url, pub } = await setup(t, kind, { retention: { maxAgeMs: 1000 }, now: () => now });
    await publishMany(pub, 'r', 2); // 1, 2 at t0
    now += 600;
    await publish(pub, 'r', 'e', { i: 3 }); // 3 at t0 + 600
    let h = await held(t, url, 'r');
    t.same(h.offsets, [1, 2, 3], 'nothing is old yet');
    t.same(
      h.events.map((e) => e.ts),
      [now - 600, now - 600, now],
      'ts comes from the server clock',
    );

    now += 500; // 1 and 2 are 1100 ms old, 3 is 500 ms old
    h = await held(t, url, 'r');
    t.same(h.offsets, [3], 'messages older than maxAgeMs are gone');
    const c = await rawClient(t, url);
    const j = await c.request({ type: 'join', room: 'r', since: 0 });
    t.equal(j.recovered, false);
    t.same(j.gap, { requested: 0, earliest: 3, latest: 3 });

    now += 10_000;
    h = await held(t, url, 'r');
    t.same(h.offsets, [], 'after a long idle time everything has expired');
    t.equal(h.joined.offset, 3, 'but offsets go on from where they were');
    t.equal((await publish(pub, 'r', 'e', { i: 4 })).offset, 4);
  });

  t.test(`5.6 reject with maxAgeMs: room frees up as messages expire (${kind} store)`, async (t) => {
    let now = 1_700_000_000_000;
    const { pub } = await setup(t, kind, { retention: { maxMessages: 2, maxAgeMs: 1000, overflow: 'reject' }, now: () => now });
    await publishMany(pub, 'r', 2);
    t.equal((await publish(pub, 'r', 'e', 'x')).code, 'queue_full');
    now += 1001;
    const ack = await publish(pub, 'r', 'e', 'x');
    t.equal(ack.type, 'ack', 'accepted once the old ones expired');
    t.equal(ack.offset, 3);
  });

  t.test(`5.6 durable and group consumers behind retention skip what was trimmed (${kind} store)`, async (t) => {
    const { url, pub } = await setup(t, kind, { retention: { maxMessages: 3 } });
    const w = await rawClient(t, url);
    await w.request({ type: 'join', room: 'r', group: 'g' });
    await w.request({ type: 'leave', room: 'r' }); // the group exists, with no member
    await publishMany(pub, 'r', 6);
    await w.request({ type: 'join', room: 'r', group: 'g' });
    const bob = await rawClient(t, `${url}?client=bob`);
    await bob.request({ type: 'join', room: 'r', durable: true });
    await waitFrames(w, eventIn('r'), 3);
    await waitFrames(bob, eventIn('r'), 3);
    await barrier(w);
    await barrier(bob);
    t.same(offsets(w.seen(eventIn('r'))), [4, 5, 6], 'the group resumes at the earliest held message');
    t.same(offsets(bob.seen(eventIn('r'))), [4, 5, 6], 'a new durable subscription starts at the earliest held message');
  });

  t.test(`5.6 a group delivery that expires while waiting for redelivery is not redelivered (${kind} store)`, async (t) => {
    let now = 1_700_000_000_000;
    const { url, pub } = await setup(t, kind, { retention: { maxAgeMs: 1000 }, now: () => now });
    const w = await rawClient(t, url);
    await w.request({ type: 'join', room: 'r', group: 'g' });
    await publish(pub, 'r', 'e', 'old');
    const [d] = await waitFrames(w, eventIn('r'), 1);
    now += 1001;
    w.send({ type: 'nack', id: d!.id });
    await publish(pub, 'r', 'e', 'new');
    await waitFrames(w, eventIn('r'), 2);
    await barrier(w);
    t.same(
      w.seen(eventIn('r')).map((e) => e.data),
      ['old', 'new'],
      'the expired message is gone, the group moves on',
    );
  });

  t.test(`5.6 retention is overridable per room pattern and per namespace (${kind} store)`, async (t) => {
    const { url, pub } = await setup(t, kind, {
      retention: { maxMessages: 100 },
      retentionRules: [
        { room: 'tiny.*', maxMessages: 2 },
        { room: /^strict$/, maxMessages: 1, overflow: 'reject' },
        { ns: '/small', maxMessages: 1 },
      ],
    });
    await publishMany(pub, 'tiny.a', 5);
    await publishMany(pub, 'tiny.b', 5);
    await publishMany(pub, 'big', 5);
    t.same((await held(t, url, 'tiny.a')).offsets, [4, 5], 'tiny.* keeps 2');
    t.same((await held(t, url, 'tiny.b')).offsets, [4, 5]);
    t.same((await held(t, url, 'big')).offsets, [1, 2, 3, 4, 5], 'other rooms use the base retention');
    t.equal((await publish(pub, 'strict', 'e', 1)).offset, 1);
    t.equal((await publish(pub, 'strict', 'e', 2)).code, 'queue_full', 'a RegExp rule can set the overflow policy');

    await pub.request({ type: 'connect', ns: '/small' });
    for (let i = 0; i < 3; i++) await publish(pub, 'big', 'e', i, { ns: '/small' });
    t.same((await held(t, url, 'big', '/small')).offsets, [3], 'a namespace rule applies to its rooms only');
  });
}
