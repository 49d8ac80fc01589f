/**
 * I7 #0 / I8 #1: every `Object.prototype` name ("constructor", "__proto__", "toString", …) in
 * every string position of a frame — type, ns, room, event, key, id, group, a field name, a
 * key inside data — is answered with a documented code (or works as the name it is), over a
 * real socket on both stores; the process stays up, the connection stays usable and another
 * client's ordered stream is undisturbed. Frames are looked up with own properties only (R3.14).
 */
import t from 'tap';
import { ERROR_CODE_LIST } from '../../protocol/codes.js';
import { eventIn, storeOptions, STORES } from '../helpers/logs.js';
import type { Frame, RawClient } from '../helpers/raw-client.js';
import { rawClient, startServer } from '../helpers/server.js';

const NAMES = Object.getOwnPropertyNames(Object.prototype);
const CODES = new Set<string>(ERROR_CODE_LIST);

/** Send a frame with id `id` and wait for the reply carrying it. */
function ask(c: RawClient, frame: Frame, id: string): Promise<Frame> {
  c.send({ ...frame, id });
  return c.next((f) => f.id === id && f.type !== 'event', 3000);
}

t.test('every Object.prototype name is a documented code or a plain name, never a crash', async (t) => {
  t.ok(NAMES.includes('constructor') && NAMES.includes('__proto__') && NAMES.includes('toString'), 'the names include constructor, __proto__, toString');
  for (const kind of STORES) {
    t.test(`R3.14 ${kind} store`, async (t) => {
      const { url } = await startServer(t, { ...(await storeOptions(t, kind)), badFrameLimit: 100_000 });
      const victim = await rawClient(t, url);
      const sender = await rawClient(t, url);
      const attacker = await rawClient(t, url);
      const joined = await victim.request({ type: 'join', room: 'calm' });
      t.equal(joined.type, 'joined', 'the victim joined its room');
      let sent = 0;
      const emitOne = async (): Promise<void> => {
        const r = await sender.request({ type: 'emit', event: 'seq', room: 'calm', data: ++sent });
        if (r.type !== 'ack') throw new Error(`emit to calm failed: ${JSON.stringify(r)}`);
      };
      await emitOne();

      let n = 0;
      const id = (): string => `q${++n}`;
      for (const name of NAMES) {
        const what = JSON.stringify(name);
        // type
        const u = await ask(attacker, { type: name }, id());
        t.equal(u.code, 'unknown_type', `type ${what}: unknown_type`);
        // the name as a field name, on a frame without it and on a frame with it
        const field = await ask(attacker, JSON.parse(`{"type":"ping",${JSON.stringify(name)}:1}`), id());
        t.equal(field.code, 'bad_frame', `field ${what} on ping: bad_frame`);
        t.match(field.message, /unknown field/, `field ${what}: named as an unknown field`);
        const fieldJoin = await ask(attacker, JSON.parse(`{"type":"join","room":"r",${JSON.stringify(name)}:{"x":1}}`), id());
        t.equal(fieldJoin.code, 'bad_frame', `field ${what} on join: bad_frame`);
        // ns
        const ns = await ask(attacker, { type: 'connect', ns: name }, id());
        t.equal(ns.code, 'bad_frame', `ns ${what} (no leading "/"): bad_frame`);
        const nsSlash = await ask(attacker, { type: 'connect', ns: `/${name}` }, id());
        t.equal(nsSlash.type, 'connected', `ns "/${name}": connected`);
        const nsJoin = await ask(attacker, { type: 'join', ns: `/${name}`, room: name }, id());
        t.equal(nsJoin.type, 'joined', `room ${what} in ns "/${name}": joined`);
        // room, event, data keys: a member receives exactly what was sent
        const room = await ask(attacker, { type: 'join', room: name }, id());
        t.equal(room.type, 'joined', `room ${what}: joined`);
        const data = JSON.parse(`{${JSON.stringify(name)}:${JSON.stringify(name)},"n":[${JSON.stringify(name)}]}`);
        const ack = await ask(attacker, { type: 'emit', event: name, room: name, data, echo: true }, id());
        t.equal(ack.type, 'ack', `emit event ${what} into room ${what}: ack`);
        await attacker.sync();
        const ev = attacker.seen((f) => f.type === 'event' && f.room === name && f.ns === '/' && f.event === name).pop() ?? {};
        t.equal(ev.event, name, `event ${what} arrives under its name`);
        t.equal(JSON.stringify(ev.data), JSON.stringify(data), `data with key ${what} arrives as sent`);
        // key (idempotency)
        const k1 = await ask(attacker, { type: 'emit', event: 'k', room: name, key: name }, id());
        const k2 = await ask(attacker, { type: 'emit', event: 'k', room: name, key: name }, id());
        t.equal(k1.type, 'ack', `key ${what}: first emit stored`);
        t.equal(k2.duplicate, true, `key ${what}: the resend is a duplicate`);
        t.equal(k2.offset, k1.offset, `key ${what}: same offset`);
        // group
        const g = await ask(attacker, { type: 'join', room: `g-${name}`, group: name }, id());
        t.equal(g.type, 'joined', `group ${what}: joined`);
        t.equal(g.group, name, `group ${what}: named in joined`);
        // id: a request id echoed, a delivery id unknown
        attacker.send({ type: 'ping', id: name });
        const pong = await attacker.next((f) => f.type === 'pong' && f.id === name);
        t.equal(pong.id, name, `id ${what}: pong echoes it`);
        attacker.send({ type: 'ack', id: name });
        attacker.send({ type: 'nack', id: name });
        const left = await ask(attacker, { type: 'leave', room: name }, id());
        t.equal(left.type, 'left', `room ${what}: left`);
        if (n % 40 === 0) await emitOne();
      }
      // Everything the attacker got is a documented frame; every error code is documented.
      const errors = attacker.seen((f) => f.type === 'error');
      t.ok(errors.length > 0, 'errors were answered');
      t.strictSame(
        errors.filter((e) => !CODES.has(e.code)),
        [],
        'every error code is documented',
      );
      t.strictSame(
        errors.filter((e) => !(typeof e.message === 'string' && /[.!?]$/.test(e.message))),
        [],
        'every error message is a sentence',
      );
      // The attacker's connection carries on; so do the others.
      const p = await attacker.request({ type: 'ping' });
      t.equal(p.type, 'pong', 'the attacker still gets pong');
      await emitOne();
      const got = await victim.collect(eventIn('calm'), sent, 5000);
      t.strictSame(
        got.map((f) => f.data),
        Array.from({ length: sent }, (_, i) => i + 1),
        `the victim got all ${sent} events in order`,
      );
      t.equal((await victim.request({ type: 'ping' })).type, 'pong', 'the victim still gets pong');
    });
  }
});
