/** The own-redis-server helper (test/helpers/redis-server.ts): issue 9 item 4's durability harness. */
import { Redis } from 'ioredis';
import t from 'tap';
import { ping, startRedis } from '../helpers/redis-server.js';

t.test('issue 9 item 4: an own redis-server with appendfsync always keeps an acked write across kill -9 and restart on the same port', async (tt) => {
  const redis = await startRedis(tt, { persistent: true });
  const c = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  tt.teardown(() => c.disconnect());
  await c.connect();
  tt.equal(await c.set('k', 'v'), 'OK');
  const pid = redis.pid;
  await redis.kill();
  tt.match(await ping(redis.port, 300), /^(error|timeout)/, 'down after SIGKILL');
  await redis.restart();
  tt.not(redis.pid, pid, 'a new process');
  const d = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  tt.teardown(() => d.disconnect());
  tt.equal(await d.get('k'), 'v', 'the acked write survived');
});

t.test('issue 9 item 4: a non-persistent redis-server forgets everything on restart', async (tt) => {
  const redis = await startRedis(tt, { persistent: false });
  const c = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  tt.teardown(() => c.disconnect());
  await c.set('k', 'v');
  await redis.stop();
  await redis.restart();
  const d = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  tt.teardown(() => d.disconnect());
  tt.equal(await d.get('k'), null);
});
