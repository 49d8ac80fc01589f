/**
 * Issue 11 item 4: `wsq backup` (an LMDB hot copy while serving, asked over the admin API) and
 * `wsq restore` (offline: refused while a server holds the data directory, naming its PID)
 * against a live `wsq serve` child with real traffic. Needs dist/ (`npx tsc -p tsconfig.json`).
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { ADMIN_KEY, adminApi, serve, tmp, traffic, wsq } from './admin-fixture.js';

const env = { WSQ_ADMIN_KEY: ADMIN_KEY };

t.test('wsq backup copies the disk store while serving; wsq restore refuses a held directory and restores into another', async (t) => {
  const data = tmp(t);
  const liveDir = join(data, 'live');
  const { http, ws, child } = await serve(t, liveDir);
  await traffic(t, ws);
  const dir = join(data, 'backup-1');
  const b = await wsq(t, ['backup', dir, '--url', http], env);
  t.equal(b.code, 0, b.stderr);
  t.match(b.stderr, /backup: asking http:\S+ to copy its disk store to /, 'a progress line first');
  t.match(b.stdout, /backup: done: \S+data\.mdb \(\d+\.\d MiB\) in \d+ ms/);
  t.ok(existsSync(join(dir, 'data.mdb')) && statSync(join(dir, 'data.mdb')).size > 0, 'data.mdb written');
  const [again, held] = await Promise.all([wsq(t, ['backup', dir, '--url', http], env), wsq(t, ['restore', dir, '--data-dir', liveDir])]);
  t.equal(again.code, 1, 'a backup over an existing one is refused');
  t.match(again.stderr, /409: the backup to \S+ failed/);

  t.equal(held.code, 1, 'restore into the directory of a running server is refused');
  t.match(held.stderr, new RegExp(`in use by another wsq process \\(PID ${child.pid}`), 'naming the PID');

  const target = join(data, 'restored');
  const r = await wsq(t, ['restore', dir, '--data-dir', target]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, /restore: copying \S+ \(\d+\.\d MiB\) to /);
  t.match(r.stderr, /restore: done: /);
  t.equal((await wsq(t, ['restore', dir, '--data-dir', target])).code, 1, 'restoring over data needs --force');
  const forced = await wsq(t, ['restore', dir, '--data-dir', target, '--force']);
  t.match(forced.stderr, /kept the data that was there as \S+before-restore/);

  const second = await serve(t, target);
  const rooms = (await adminApi(second.http, 'GET', 'rooms')).body.rooms;
  t.match(
    rooms.find((x: { room: string }) => x.room === 'jobs'),
    { first: 1, last: 3, members: 0 },
    'the restored store holds the room as it was',
  );
  t.ok(
    rooms.some((x: { room: string }) => x.room === '$dead:jobs'),
    'and its dead letters',
  );
});
