/** Deliver 3 (I7): one shared WsqError — the server library's is the protocol's, the client's extends it. */
import t from 'tap';
import { WsqError as ServerWsqError } from '../../lib/index.js';
import { WsqError as ClientWsqError, WsqTimeoutError } from '../../lib/client/errors.js';
import { WsqError } from '../../protocol/index.js';

t.test('the server library throws the protocol WsqError', async (t) => {
  t.equal(ServerWsqError, WsqError, 'the same class');
  const e = new ServerWsqError('forbidden', 'admins only', { rule: 'admin' });
  t.ok(e instanceof Error && e instanceof WsqError);
  t.equal(e.name, 'WsqError');
  t.equal(e.code, 'forbidden');
  t.equal(e.message, 'admins only');
  t.strictSame(e.details, { rule: 'admin' });
  t.notOk('details' in new WsqError('timeout', 'late'), 'no details key when none were given');
  t.equal((new WsqError('internal', 'x', undefined, { cause: 'disk' }) as Error).cause, 'disk', 'a cause is kept');
});

t.test("the client SDK error extends it, with the client's codes", async (t) => {
  const c = new ClientWsqError('closed', 'The client is closed.', { details: { why: 'x' }, cause: 1 });
  t.ok(c instanceof WsqError, 'a client error is a protocol WsqError');
  t.ok(c instanceof ClientWsqError);
  t.equal(c.name, 'WsqError');
  t.equal(c.code, 'closed');
  t.strictSame(c.details, { why: 'x' });
  t.equal((c as Error).cause, 1);
  const timeout = new WsqTimeoutError('emit', 100);
  t.ok(timeout instanceof WsqError && timeout instanceof ClientWsqError, 'its subclasses too');
  t.equal(timeout.code, 'timeout');
});
