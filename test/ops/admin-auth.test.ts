/**
 * Issue 11 item 4: the admin API is off unless `admin.keys` is configured, and refuses with a
 * status and a one-line reason: no key, a wrong key (401), a bad request (400), a wrong method
 * (405), a memory store's backup (409); through the API and through `wsq`. Needs dist/.
 */
import { join } from 'node:path';
import t from 'tap';
import { start } from '../examples/children.js';
import { ADMIN_KEY, adminApi, cli, serve, tmp, wsq } from './admin-fixture.js';

const env = { WSQ_ADMIN_KEY: ADMIN_KEY };

t.test('the admin API is off unless admin.keys is configured, and refuses requests without an admin key (401, one line)', async (t) => {
  const plain = start(t, cli, ['serve', '--port', '0', '--memory']);
  const [offWs, { http }] = await Promise.all([plain.waitFor((x) => /listening on (ws:\/\/\S+)/.exec(x.stdout)?.[1], 10_000, 'listening line'), serve(t, 'memory')]);
  const off = offWs.replace(/^ws/, 'http').replace(/\/$/, '');
  const res = await fetch(`${off}/admin/api/rooms`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
  t.equal(res.status, 426, 'no admin section: /admin/api/ is not routed at all');
  t.equal((await fetch(`${off}/dashboard`)).status, 426, 'nor is /dashboard');

  const none = await fetch(`${http}/admin/api/rooms`);
  t.equal(none.status, 401);
  t.match(((await none.json()) as { error: string }).error, /^Unauthorized: send "Authorization: Bearer <admin key>"/);
  const wrong = await adminApi(http, 'GET', 'rooms', 'wsq_not-the-admin-key');
  t.equal(wrong.status, 401);
  t.match(wrong.body.error, /not an admin key/);
  const [cliWrong, cliNone, backup] = await Promise.all([
    wsq(t, ['rooms', '--url', http, '--key', 'wsq_nope']),
    wsq(t, ['rooms', '--url', http], { WSQ_ADMIN_KEY: '' }),
    wsq(t, ['backup', join(tmp(t), 'b'), '--url', http], env),
  ]);
  t.equal(cliWrong.code, 1, 'wsq rooms with a wrong key exits 1');
  t.match(cliWrong.stderr, /wsq: 401: Unauthorized: this is not an admin key/);
  t.match(cliNone.stderr, /an admin key is needed: --key KEY or WSQ_ADMIN_KEY/);
  const noRoom = await adminApi(http, 'GET', 'groups');
  t.equal(noRoom.status, 400, 'a request without its room is refused');
  t.match(noRoom.body.error, /^room is required/);
  t.equal((await adminApi(http, 'GET', 'dead?room=jobs&limit=0')).status, 400, 'a bad page size is refused');
  t.equal((await adminApi(http, 'GET', 'rooms')).status, 200, 'the admin key opens the API');
  t.equal((await fetch(`${http}/admin/api/redrive?room=jobs`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })).status, 405, 'redrive is POST only');
  t.equal(backup.code, 1, 'a memory store has no backup');
  t.match(backup.stderr, /409: this server runs the memory store, which has nothing on disk to back up/);
});
