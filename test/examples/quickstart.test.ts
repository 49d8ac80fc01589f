/** The README's 15-line SDK example runs against a live server and prints what the README says. */
import t from 'tap';
import { startServer } from '../helpers/server.js';
import { dist, start } from './children.js';

t.test('README SDK example: history, an acked (stored) emit, a group join, a clean close', async (t) => {
  const { url } = await startServer(t);
  const child = start(t, dist('examples/quickstart/sdk.js'), [url]);
  const exit = await child.exit(15_000);
  t.equal(exit.code, 0, `exits 0 (stderr: ${child.stderr.slice(0, 300)})`);
  t.match(child.stdout, /#1 hello/, 'the echo of its own message arrives with its offset');
  t.match(child.stdout, /stored at offset 1/, 'emitWithAck resolves with the stored offset');
});
