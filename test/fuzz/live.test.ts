/**
 * I8 deliver 7: a live server takes a few thousand random and mutated frames (text and
 * binary) from one client, while another client's ordered stream — a room it joined, fed by
 * a third client — goes on undisturbed; every frame the fuzzing client gets back is a valid
 * server frame with a documented code, and the server still answers its `ping`. On both
 * stores; bounded by a fixed sample and a time limit.
 */
import fc from 'fast-check';
import t from 'tap';
import { WebSocket } from 'ws';
import { decodeServerFrame } from '../../protocol/codec.js';
import { ERROR_CODE_LIST } from '../../protocol/codes.js';
import { eventIn, storeOptions, STORES, waitFrames } from '../helpers/logs.js';
import { rawClient, startServer } from '../helpers/server.js';
import { anyFrame, protoFrames } from './frames.js';

const CODES = new Set<string>(ERROR_CODE_LIST);
const FRAMES = 2500;
const BATCH = 250;

for (const kind of STORES) {
  t.test(`R3.14 a fuzzing client does not disturb others (${kind} store)`, async (t) => {
    const started = Date.now();
    const { url } = await startServer(t, { ...(await storeOptions(t, kind)), badFrameLimit: 1_000_000 });
    const victim = await rawClient(t, url);
    const sender = await rawClient(t, url);
    t.equal((await victim.request({ type: 'join', room: 'calm' })).type, 'joined', 'the victim joined its room');

    // The fuzzing client: a plain ws socket that records everything it gets.
    const ws = new WebSocket(url);
    const got: string[] = [];
    const closed = new Promise<number>((r) => ws.on('close', (code) => r(code)));
    ws.on('message', (d: Buffer) => got.push(d.toString()));
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    let pongs = 0;
    const pinged = (): Promise<void> => {
      const id = `fuzz-sync-${++pongs}`;
      ws.send(JSON.stringify({ type: 'ping', id }));
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no pong ${id} within 5 s`)), 5000);
        const on = (d: Buffer): void => {
          const text = d.toString();
          if (text.includes(`"fuzz-sync-${pongs}"`) && text.includes('"pong"')) {
            clearTimeout(timer);
            ws.off('message', on);
            resolve();
          }
        };
        ws.on('message', on);
      });
    };

    const texts = [...protoFrames(), ...fc.sample(anyFrame, { numRuns: FRAMES, seed: kind === 'memory' ? 1 : 2 })];
    let seq = 0;
    let sentBinary = 0;
    for (let i = 0; i < texts.length; i += BATCH) {
      for (const text of texts.slice(i, i + BATCH)) {
        if (text.length % 7 === 0) {
          ws.send(Buffer.from(text), { binary: true });
          sentBinary++;
        } else ws.send(text);
      }
      // The third client feeds the victim's room between batches.
      const ack = await sender.request({ type: 'emit', event: 'seq', room: 'calm', data: ++seq });
      if (ack.type !== 'ack') throw new Error(`the sender's emit failed: ${JSON.stringify(ack)}`);
      await pinged(); // the server answered everything sent so far and is still up
      if (Date.now() - started > 12_000) break;
    }
    t.ok(ws.readyState === WebSocket.OPEN, 'the fuzzing client is still connected');
    t.ok(sentBinary > 0, `${sentBinary} binary frames among ${texts.length}`);

    // Every frame the fuzzer got is a valid server frame; every error has a documented code.
    const invalid = got.filter((x) => !decodeServerFrame(x).ok);
    t.strictSame(invalid.slice(0, 5), [], `all ${got.length} frames back are valid server frames`);
    const errors = got.map((x) => JSON.parse(x) as { type: string; code?: string }).filter((f) => f.type === 'error');
    t.ok(errors.length > 100, `${errors.length} errors answered`);
    t.strictSame(errors.filter((e) => !CODES.has(e.code ?? '')).slice(0, 5), [], 'every error code is documented');
    t.ok(!errors.some((e) => e.code === 'internal'), 'no frame made the server fail (internal)');

    // The victim's stream: exactly the sender's events, in order, nothing lost.
    const mine = (await waitFrames(victim, (f) => eventIn('calm')(f) && f.from === sender.welcome.sid, seq, 5000)).map((f) => f.data);
    t.strictSame(
      mine,
      Array.from({ length: seq }, (_, i) => i + 1),
      `the victim got the sender's ${seq} events in order`,
    );
    t.equal((await victim.request({ type: 'ping' })).type, 'pong', 'the victim still gets pong');
    t.equal((await sender.request({ type: 'ping' })).type, 'pong', 'the sender still gets pong');
    ws.close();
    t.equal(await closed, 1005, 'the fuzzing client closes normally');
    t.ok(Date.now() - started < 20_000, `done in ${Date.now() - started} ms`);
  });
}
