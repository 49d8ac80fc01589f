/**
 * Issue 11 item 4: the admin commands `wsq rooms`, `groups`, `dead`, `redrive` and `cursor reset`
 * against a live `wsq serve` child with real traffic (backup and restore: admin-backup.test.ts;
 * the API's refusals: admin-auth.test.ts).
 * Needs dist/ (`npx tsc -p tsconfig.json`).
 */
import { join } from 'node:path';
import t from 'tap';
import { ADMIN_KEY, adminApi, serve, tmp, traffic, until, wsq } from './admin-fixture.js';

const env = { WSQ_ADMIN_KEY: ADMIN_KEY };

t.test('wsq rooms, groups, dead, redrive and cursor reset show and change what the traffic left', async (t) => {
  const data = tmp(t);
  const { http, ws } = await serve(t, join(data, 'live'));
  const { worker } = await traffic(t, ws);
  const url = ['--url', http];

  // The group's progress is saved asynchronously: wait (bounded) until the store shows floor 2.
  await until(
    async () => (await adminApi(http, 'GET', 'groups?room=jobs')).body.groups.find((x: { name: string; floor: number }) => x.name === 'group:workers' && x.floor === 2),
    8000,
    'the group state floor 2',
  );
  const [rooms, roomsOut, groupsOut, groups, busy, dead] = await Promise.all([
    wsq(t, ['rooms', ...url], env),
    adminApi(http, 'GET', 'rooms'),
    adminApi(http, 'GET', 'groups?room=jobs'),
    wsq(t, ['groups', 'jobs', ...url], env),
    wsq(t, ['cursor', 'reset', 'jobs', 'workers', '--to', 'latest', ...url], env),
    wsq(t, ['dead', 'jobs', ...url], env),
  ]);
  t.equal(rooms.code, 0, rooms.stderr);
  t.match(rooms.stdout, /^NS\s+ROOM\s+MEMBERS\s+FIRST\s+LAST\s+EPOCH\s+RETENTION/m, 'a table with a header');
  t.match(rooms.stdout, /^\/\s+jobs\s+2\s+1\s+3\s+\S+/m, 'jobs: 2 members (live + group), offsets 1-3');
  const roomsJson = roomsOut.body;
  const jobs = roomsJson.rooms.find((r: { room: string }) => r.room === 'jobs');
  t.match(jobs, { ns: '/', room: 'jobs', members: 2, first: 1, last: 3, retention: { overflow: 'drop-oldest' } });
  t.ok(
    roomsJson.rooms.some((r: { room: string; last: number }) => r.room === '$dead:jobs' && r.last === 1),
    'the dead room is listed',
  );

  const g = groupsOut.body.groups.find((x: { name: string }) => x.name === 'group:workers');
  t.match(g, { kind: 'group', members: 1, floor: 2, lag: 1, pending: 1 }, 'one member, lag 1, offset 3 pending');
  t.match(groups.stdout, /^group:workers\s+group\s+1\s+2\s+1\s+1$/m, 'the table row');

  t.equal(busy.code, 1, 'a reset while a member is connected is refused');
  t.match(busy.stderr, /409: consumer "group:workers" has 1 member\(s\) connected/);

  t.equal(dead.code, 0, dead.stderr);
  t.match(dead.stdout, /^1\s+job\s+\S+Z\s+\S+\s+\{"n":1\}$/m, 'the dead letter: offset, event, time, from, data');
  t.match(dead.stdout, /1 dead letter\(s\)/);

  await worker.close();
  await until(
    async () => (await adminApi(http, 'GET', 'groups?room=jobs')).body.groups.find((x: { name: string; members: number }) => x.name === 'group:workers' && x.members === 0),
    5000,
    'the worker gone',
  );
  const [reset, badTo] = await Promise.all([
    wsq(t, ['cursor', 'reset', 'jobs', 'workers', '--to', 'latest', ...url], env),
    wsq(t, ['cursor', 'reset', 'jobs', 'workers', '--to', 'soon', ...url], env),
  ]);
  t.equal(badTo.code, 1, 'a bad --to is refused');
  t.match(badTo.stderr, /400: to must be earliest, latest or an offset/);
  t.equal(reset.code, 0, reset.stderr);
  t.match(reset.stdout, /group:workers of "jobs": floor 2 → 3 \(lag 0\)/);

  const [back, redrive] = await Promise.all([
    wsq(t, ['cursor', 'reset', 'jobs', 'group:workers', '--to', 'earliest', '--json', ...url], env),
    wsq(t, ['redrive', 'jobs', ...url], env),
  ]);
  t.match(JSON.parse(back.stdout), { consumer: 'group:workers', before: 3, floor: 0 }, '--to earliest (--json): everything held is to do again');
  t.equal(redrive.code, 0, redrive.stderr);
  t.match(redrive.stdout, /re-drove 1 dead letter\(s\) into "jobs" \(1 stored, 0 left\)/);
  const [deadAfter, repeat] = await Promise.all([wsq(t, ['dead', 'jobs', '--json', ...url], env), wsq(t, ['redrive', 'jobs', ...url], env)]);
  t.match(JSON.parse(deadAfter.stdout), { count: 0, dead: [], redriven: 1 }, 'nothing left to re-drive');
  t.match(repeat.stdout, /re-drove 0 dead letter\(s\)/, 'a repeat re-drives nothing');
  const after = (await adminApi(http, 'GET', 'rooms')).body.rooms.find((r: { room: string }) => r.room === 'jobs');
  t.equal(after.last, 4, 'the dead letter is back in jobs as offset 4');
});
