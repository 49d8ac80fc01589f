/** Conformance checks of the optional features `args` (R4.5.10, R4.5.11, R6.5.4) and `binary` (§4.9). */
import { type Check, check, expect, isError, join, na, nextEvent } from '../check.js';
import { type Frame, short } from '../peer.js';

/** Give up as N/A unless `welcome.features` lists `feature` (R1.10: a client sends it only then). */
function needs(welcome: Frame, feature: string): void {
  const f = welcome.features;
  if (!Array.isArray(f) || !f.includes(feature)) na(`the server does not announce the "${feature}" feature in welcome.features`);
}

/** A binary message of §4.9 (R4.9.2): count, lengths, attachments, then the frame's JSON. */
function binaryMessage(frame: Frame, parts: Uint8Array[]): Buffer {
  const head = Buffer.alloc(4 + 4 * parts.length);
  head.writeUInt32BE(parts.length, 0);
  for (const [i, p] of parts.entries()) head.writeUInt32BE(p.byteLength, 4 + 4 * i);
  return Buffer.concat([head, ...parts.map((p) => Buffer.from(p)), Buffer.from(JSON.stringify(frame))]);
}

/** Checks of the `args` and `binary` features. */
export const argChecks: Check[] = [
  check(['R4.5.10', 'R4.5.11', 'R6.5.4'], 'args through a room: live and replayed with the same arguments; one value stays data', async (ctx) => {
    needs(ctx.welcome, 'args');
    const a = await ctx.open();
    const b = await ctx.open();
    const room = ctx.room('args');
    await join(b, room);
    const ack = await a.request({ type: 'emit', room, event: 'cf', args: ['a', 2, { c: 3 }] });
    expect(ack.type === 'ack' && Number.isInteger(ack.offset), `emit with args: expected a stored ack, got ${short(ack)}`);
    const live = await nextEvent(b, room);
    expect(JSON.stringify(live.args) === '["a",2,{"c":3}]' && live.data === 'a', `live event: args ["a",2,{"c":3}] and data "a" expected, got ${short(live)}`);
    await a.request({ type: 'emit', room, event: 'cf', args: [] });
    const none = await nextEvent(b, room);
    expect(Array.isArray(none.args) && none.args.length === 0 && none.data === null, `zero arguments: args [] and data null expected, got ${short(none)}`);
    await a.request({ type: 'emit', room, event: 'cf', args: ['only'] });
    const one = await nextEvent(b, room);
    expect(one.data === 'only' && !('args' in one), `args of one value: delivered as data without args, got ${short(one)}`);
    isError(await a.request({ type: 'emit', room, event: 'cf', data: 1, args: [1, 2] }), 'bad_frame', 'data with args');
    const c = await ctx.open();
    await join(c, room, { since: 0 });
    const replayed = await nextEvent(c, room, (f) => f.offset === ack.offset);
    expect(JSON.stringify(replayed.args) === '["a",2,{"c":3}]' && replayed.replay === true, `replay: the same args expected, got ${short(replayed)}`);
  }),
  check(['R4.9.1', 'R4.9.2', 'R4.9.3', 'R4.9.6'], 'a binary emit into a room is delivered as a binary message with the same bytes; text stays text', async (ctx) => {
    needs(ctx.welcome, 'binary');
    const a = await ctx.open();
    const b = await ctx.open();
    const room = ctx.room('bin');
    await join(b, room);
    const got = new Promise<Buffer>((resolve) => b.ws.on('message', (d: Buffer, isBinary: boolean) => isBinary && resolve(d)));
    const bytes = Buffer.from([0, 1, 2, 254, 255]);
    a.ws.send(binaryMessage({ type: 'emit', room, event: 'cf', data: { f: null }, bin: [['data', 'f']], id: 'b1' }, [bytes]), { binary: true });
    const ack = await a.next((f) => f.id === 'b1');
    expect(ack.type === 'ack', `binary emit: expected ack, got ${short(ack)}`);
    const msg = await Promise.race([got, new Promise<undefined>((r) => setTimeout(r, ctx.waitMs))]);
    expect(msg !== undefined, 'the room member got no binary message');
    const k = msg.readUInt32BE(0);
    const len = msg.readUInt32BE(4);
    const frame = JSON.parse(msg.subarray(8 + len).toString()) as Frame;
    expect(k === 1 && msg.subarray(8, 8 + len).equals(bytes), `the attachment: 1 of 5 bytes expected, got ${k} of ${len}`);
    expect(frame.type === 'event' && JSON.stringify(frame.bin) === '[["data","f"]]' && frame.data?.f === null, `the event frame: ${short(frame)}`);
    await a.request({ type: 'emit', room, event: 'cf', data: 'text' });
    const text = await nextEvent(b, room, (f) => f.data === 'text');
    expect(text.bin === undefined, `a text emit stays a text event: ${short(text)}`);
  }),
  check(['R4.9.4', 'R2.3.1'], 'a malformed binary message is unsupported_frame; bin in a text frame is bad_frame; the connection carries on', async (ctx) => {
    needs(ctx.welcome, 'binary');
    const p = await ctx.open();
    p.ws.send(Buffer.from([0, 0, 0, 1, 0, 0, 0, 99, 1]), { binary: true });
    isError(await p.next('error'), 'unsupported_frame', 'an attachment past the end of the message');
    isError(await p.request({ type: 'emit', room: ctx.room('bin'), event: 'cf', data: null, bin: [['data']] }), 'bad_frame', 'bin in a text message');
    await p.request({ type: 'ping' });
  }),
];
