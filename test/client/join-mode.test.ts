/**
 * I7 #17: a second `join` of a room in another mode (live / durable / a group) is refused
 * with a clear error instead of silently returning the first subscription.
 */
import t from 'tap';
import { startServer } from '../helpers/server.js';
import type { WsqError } from '../../lib/client/index.js';
import { client } from './util.js';

t.test('join("jobs") then join("jobs", { group }) throws already_joined, naming both modes', async (t) => {
  const { url } = await startServer(t);
  const c = client(t, url, { client: 'w1' });
  const live = c.join('jobs');
  await live.ready();
  let err: WsqError | undefined;
  try {
    c.join('jobs', { group: 'workers' });
  } catch (e) {
    err = e as WsqError;
  }
  t.equal(err?.code, 'already_joined');
  t.match(err?.message, /a subscription to "jobs" in mode live exists; leave it first/i);
  t.match(err?.message, /group "workers"/);
  t.throws(() => c.join('jobs', { durable: true }), { code: 'already_joined' }, 'durable too');
  t.equal(c.join('jobs'), live, 'the same mode returns the same subscription');

  // After leaving, the group join works and really is a group member.
  await live.leave();
  const group = c.join('jobs', { group: 'workers' });
  await group.ready();
  t.not(group, live);
  t.equal(group.mode, 'group "workers"');
  t.throws(() => c.join('jobs', { group: 'other' }), { code: 'already_joined', message: /group "workers" exists/ }, 'another group is another mode');
  const got = new Promise<number>((resolve) => group.on('job', (n: number) => resolve(n)));
  await c.emitWithAck('job', 7, { room: 'jobs' });
  t.equal(await got, 7, 'the group subscription gets deliveries');
});

t.test('the same rule holds in a namespace other than "/"', async (t) => {
  const { url } = await startServer(t);
  const c = client(t, url, { client: 'w2' });
  const chat = c.ns('/chat');
  chat.join('r', { durable: true });
  t.throws(() => chat.join('r'), { code: 'already_joined', message: /"r" in "\/chat" in mode durable exists/ });
});
