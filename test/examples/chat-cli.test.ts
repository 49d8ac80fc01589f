/**
 * examples/chat-cli: two terminal chat processes (scripted: stdin is a pipe) on a server
 * started in this process. Each sees the other's lines and its own, once each, in the
 * same offset order; a third one started afterwards gets the whole history and exits.
 */
import t from 'tap';
import { WsqServer } from '../../lib/index.js';
import { dist, start, type Child } from './children.js';

const WAIT = 20_000;

/** The chat lines a process printed: `[room #offset] name: text`. */
function chatLines(c: Child): { offset: number; name: string; text: string }[] {
  return c.lines.flatMap((l) => {
    const m = /^\[lobby #(\d+)\] ([^:]+): (.*)$/.exec(l);
    return m ? [{ offset: Number(m[1]), name: m[2]!, text: m[3]! }] : [];
  });
}

const has = (c: Child, text: string): true | undefined => (chatLines(c).some((l) => l.text === text) ? true : undefined);

t.test('two chat-cli processes see each other', async (t) => {
  const server = new WsqServer({ logger: () => {} });
  t.teardown(() => server.close());
  await server.listen({ port: 0, host: '127.0.0.1' });
  const script = dist('examples/chat-cli/index.js');
  const args = (name: string) => ['--url', server.url, '--name', name, '--room', 'lobby'];

  const ann = start(t, script, args('ann'), { stdin: 'pipe' });
  const bob = start(t, script, args('bob'), { stdin: 'pipe' });
  await Promise.all([ann, bob].map((c) => c.waitFor((x) => (/\* joined lobby as/.test(x.stderr) ? true : undefined), WAIT, 'joined')));

  ann.proc.stdin!.write('hello from ann\n');
  await bob.waitFor((c) => has(c, 'hello from ann'), WAIT, 'bob sees ann');
  bob.proc.stdin!.write('hi ann, bob here\n');
  ann.proc.stdin!.write('how are you?\n');
  await Promise.all([ann.waitFor((c) => has(c, 'hi ann, bob here'), WAIT, 'ann sees bob'), bob.waitFor((c) => has(c, 'how are you?'), WAIT, 'bob sees ann again')]);
  bob.proc.stdin!.write('fine, bye\n');
  await ann.waitFor((c) => has(c, 'fine, bye'), WAIT, 'ann sees bob again');
  await bob.waitFor((c) => has(c, 'fine, bye'), WAIT, 'bob sees its own line');

  // stdin ends: each exits once its sends are acked.
  ann.proc.stdin!.end();
  bob.proc.stdin!.end();
  t.same(await ann.exit(WAIT), { code: 0, signal: null }, 'ann exits 0');
  t.same(await bob.exit(WAIT), { code: 0, signal: null }, 'bob exits 0');

  const expected = [
    { offset: 1, name: 'ann', text: 'hello from ann' },
    { offset: 2, name: 'bob', text: 'hi ann, bob here' },
    { offset: 3, name: 'ann', text: 'how are you?' },
    { offset: 4, name: 'bob', text: 'fine, bye' },
  ];
  // ann and bob's lines at offsets 2 and 3 raced; sort what was sent by offset.
  const byOffset = (a: { offset: number }, b: { offset: number }) => a.offset - b.offset;
  const annSaw = chatLines(ann);
  const bobSaw = chatLines(bob);
  t.same(
    annSaw.map((l) => l.offset),
    [1, 2, 3, 4],
    'ann: every message once, in offset order',
  );
  t.same(
    bobSaw.map((l) => l.offset),
    [1, 2, 3, 4],
    'bob: every message once, in offset order',
  );
  t.same(annSaw, bobSaw, 'both saw the same log');
  t.same(new Set(annSaw.map((l) => `${l.name}: ${l.text}`)), new Set(expected.map((l) => `${l.name}: ${l.text}`)), 'the lines sent');
  t.same([...annSaw].sort(byOffset)[0], expected[0]);

  // A latecomer with nothing to say gets the history and leaves.
  const eve = start(t, script, args('eve'));
  t.same(await eve.exit(WAIT), { code: 0, signal: null }, 'eve exits 0 once the history is printed');
  t.same(chatLines(eve), annSaw, 'eve got the whole history');
  t.match(eve.stderr, '(4 earlier messages)');
});
