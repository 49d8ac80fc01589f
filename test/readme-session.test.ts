/**
 * Replays the README's wscat session against a live stand-alone server and compares every
 * reply, so the README cannot drift. Values that differ per run (sid, epoch, ts, from) are
 * compared by shape, not value.
 */
import { readFileSync } from 'node:fs';
import t from 'tap';
import { rawClient, startServer } from './helpers/server.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const block = /<!-- wscat-session:start -->\s*```text\n([\s\S]*?)```/.exec(readme)?.[1];

function normalize(f: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...f };
  for (const k of ['sid', 'epoch', 'from']) if (k in out) out[k] = typeof out[k] === 'string' ? '<string>' : out[k];
  if ('ts' in out) out.ts = typeof out.ts === 'number' ? '<number>' : out.ts;
  return out;
}

t.test('README wscat session replays against a live server', async (t) => {
  t.ok(block, 'README has a wscat session block');
  const lines = block!.trim().split('\n');
  const { url } = await startServer(t);
  const c = await rawClient(t, url);
  t.ok(lines[0]!.startsWith('< '), 'the session starts with the welcome frame');
  t.same(normalize(c.welcome), normalize(JSON.parse(lines[0]!.slice(2))), 'welcome');
  for (const line of lines.slice(1)) {
    if (line.startsWith('> ')) c.sendRaw(line.slice(2));
    else if (line.startsWith('< ')) {
      const expected = JSON.parse(line.slice(2));
      const got = await c.next(() => true, 3000);
      t.same(normalize(got), normalize(expected), `reply: ${line.slice(2, 70)}…`);
    }
  }
});
