/**
 * The admin commands of `wsq`, against a running server's admin API (`admin.keys` in its
 * config): `wsq rooms`, `wsq groups ROOM`, `wsq dead ROOM`, `wsq redrive ROOM`,
 * `wsq cursor reset ROOM CONSUMER --to …`, `wsq backup DIR`; and `wsq restore DIR`, which runs
 * offline (it refuses while a server holds the data directory's lock). Tables for people,
 * `--json` for scripts.
 */
import { createReadStream, createWriteStream, existsSync, renameSync, rmSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import { DirLock } from '../store/lmdb.js';

interface Common {
  url: string;
  key?: string;
  ns?: string;
  json?: boolean;
}

/** Add the common options of an admin command. */
function common(cmd: Command, nsDefault: string | undefined = '/'): Command {
  return cmd
    .option('--url <url>', 'the server (its admin API is under /admin/api/)', process.env.WSQ_ADMIN_URL ?? 'http://127.0.0.1:8080')
    .option('--key <key>', 'an admin key (admin.keys in the server config) [WSQ_ADMIN_KEY]')
    .option('--ns <ns>', nsDefault === undefined ? 'only this namespace (default: all)' : 'namespace', nsDefault)
    .option('--json', 'print the answer as JSON (for scripts)');
}

/** Call the admin API; a refusal throws its one-line reason with the status. */
async function call(o: Common, method: 'GET' | 'POST', path: string, params: Record<string, string | undefined> = {}, body?: unknown): Promise<Record<string, unknown>> {
  const key = o.key ?? process.env.WSQ_ADMIN_KEY;
  if (!key) throw new Error('an admin key is needed: --key KEY or WSQ_ADMIN_KEY (make one with `wsq hash-key`, put its hash in admin.keys)');
  const url = new URL(`/admin/api/${path}`, o.url);
  for (const [k, v] of Object.entries(params)) if (v !== undefined) url.searchParams.set(k, v);
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
  } catch (err) {
    throw new Error(`cannot reach ${o.url} (--url): ${(err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message}`);
  }
  const text = await res.text();
  let answer: Record<string, unknown>;
  try {
    answer = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new Error(
      `${url.pathname} answered ${res.status} without JSON${res.status === 426 || res.status === 404 ? ': is admin configured on that server (admin.keys)?' : ''}: ${text.trim().slice(0, 200)}`,
    );
  }
  if (!res.ok) throw new Error(`${res.status}: ${String(answer.error ?? text.trim())}`);
  return answer;
}

/** Columns padded to their widest cell. */
export function table(head: string[], rows: (string | number | undefined)[][]): string {
  const cells = [head, ...rows.map((r) => r.map((c) => (c === undefined ? '' : String(c))))];
  const w = head.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i]!))).join('  ')).join('\n');
}

function print(o: Common, answer: unknown, human: () => string): void {
  console.log(o.json ? JSON.stringify(answer, null, 2) : human());
}

const mib = (n: number): string => `${(n / 1024 / 1024).toFixed(1)} MiB`;

interface Retention {
  maxMessages: number;
  maxAgeMs: number;
  maxBytes: number;
  overflow: string;
}
const retention = (r: Retention): string =>
  [r.maxMessages ? `${r.maxMessages} msgs` : '', r.maxAgeMs ? `${r.maxAgeMs / 1000} s` : '', r.maxBytes ? `${r.maxBytes} B` : '', r.overflow].filter(Boolean).join(', ');

/**
 * Register the admin commands on the `wsq` program.
 * @example
 * registerAdminCommands(program); // wsq rooms, wsq groups ROOM, …
 */
export function registerAdminCommands(program: Command): void {
  common(program.command('rooms').description('rooms of a running server: members live, first/last offset, epoch, retention'), undefined).action(async (o: Common) => {
    const a = await call(o, 'GET', 'rooms', { ns: o.ns });
    const rooms = a.rooms as { ns: string; room: string; members: number; first?: number; last?: number; epoch?: string; retention: Retention }[];
    print(o, a, () =>
      rooms.length === 0
        ? 'no rooms'
        : table(
            ['NS', 'ROOM', 'MEMBERS', 'FIRST', 'LAST', 'EPOCH', 'RETENTION'],
            rooms.map((r) => [r.ns, r.room, r.members, r.first, r.last, r.epoch, retention(r.retention)]),
          ),
    );
  });

  common(program.command('groups <room>').description("a room's consumer groups and durable consumers: members, floor, lag (last − floor), pending")).action(
    async (room: string, o: Common) => {
      const a = await call(o, 'GET', 'groups', { ns: o.ns, room });
      const groups = a.groups as { name: string; kind: string; members: number; floor: number; lag: number; pending: number }[];
      print(o, a, () =>
        groups.length === 0
          ? `room "${room}" has no consumers`
          : table(
              ['CONSUMER', 'KIND', 'MEMBERS', 'FLOOR', 'LAG', 'PENDING'],
              groups.map((g) => [g.name, g.kind, g.members, g.floor, g.lag, g.pending]),
            ),
      );
    },
  );

  common(program.command('dead <room>').description('dead letters of a room ($dead:<room>) not yet re-driven (at most 1,000 per page)'))
    .option('--from <offset>', 'start at this offset of the dead room', '0')
    .action(async (room: string, o: Common & { from: string }) => {
      const a = await call(o, 'GET', 'dead', { ns: o.ns, room, from: o.from });
      const dead = a.dead as { offset: number; event: string; ts: number; from?: string; data: unknown }[];
      print(o, a, () => {
        if (dead.length === 0) return `no dead letters in ${a.deadRoom as string}`;
        const t = table(
          ['OFFSET', 'EVENT', 'TIME', 'FROM', 'DATA'],
          dead.map((d) => [d.offset, d.event, new Date(d.ts).toISOString(), d.from, JSON.stringify(d.data).slice(0, 60)]),
        );
        return `${t}\n${a.count as number} dead letter(s)${a.next ? `; more from --from ${a.next as number}` : ''}`;
      });
    });

  common(program.command('redrive <room>').description('re-publish the dead letters of $dead:<room> into <room> and mark them re-driven (a repeat moves nothing twice)')).action(
    async (room: string, o: Common) => {
      const a = await call(o, 'POST', 'redrive', { ns: o.ns, room });
      print(o, a, () => `re-drove ${a.redriven as number} dead letter(s) into "${room}" (${a.stored as number} stored, ${a.left as number} left)`);
    },
  );

  common(
    program
      .command('cursor')
      .description('consumer cursors')
      .command('reset <room> <consumer>')
      .description("set a consumer's floor (everything at or below it counts as done); refused while members are connected"),
  )
    .requiredOption('--to <where>', 'earliest, latest or an offset')
    .action(async (room: string, consumer: string, o: Common & { to: string }) => {
      const a = await call(o, 'POST', 'cursor/reset', { ns: o.ns, room, consumer, to: o.to });
      print(o, a, () => `${a.consumer as string} of "${room}": floor ${a.before as number} → ${a.floor as number} (lag ${a.lag as number})`);
    });

  common(program.command('backup <dir>').description("copy a running server's disk store into <dir> on the server machine (LMDB hot copy, while serving)"))
    .option('--compact', 'compact while copying (slower, smaller)')
    .action(async (dir: string, o: Common & { compact?: boolean }) => {
      const target = resolve(dir);
      if (!o.json) console.error(`backup: asking ${o.url} to copy its disk store to ${target} …`);
      const a = await call(o, 'POST', 'backup', {}, { dir: target, compact: o.compact === true });
      const file = a.file as string;
      const size = existsSync(file) ? ` (${mib(statSync(file).size)})` : '';
      print(o, a, () => `backup: done: ${file}${size} in ${a.ms as number} ms`);
    });

  program
    .command('restore <dir>')
    .description('put a backup (a directory holding data.mdb) in place as the data directory; offline: refused while a server holds the directory')
    .option('--data-dir <dir>', 'the data directory to restore into', process.env.WSQ_DATA_DIR ?? './data')
    .option('--force', 'replace data already there (it is kept as data.mdb.before-restore)')
    .action(async (dir: string, o: { dataDir: string; force?: boolean }) => {
      await restore(resolve(dir), resolve(o.dataDir), o.force === true, (line) => console.error(line));
    });
}

/** Copy `from`/data.mdb into `dataDir`, holding the directory's lock meanwhile (so no server can start on it, and none runs). */
export async function restore(from: string, dataDir: string, force: boolean, progress: (line: string) => void): Promise<void> {
  const src = join(from, 'data.mdb');
  if (!existsSync(src)) throw new Error(`${from} holds no data.mdb: give the directory \`wsq backup\` wrote`);
  await mkdir(dataDir, { recursive: true });
  const lock = new DirLock(dataDir); // throws, naming the PID, while a server holds it
  try {
    const dst = join(dataDir, 'data.mdb');
    if (existsSync(dst)) {
      if (!force) throw new Error(`${dataDir} already holds a data.mdb; pass --force to replace it (it is kept as data.mdb.before-restore)`);
      renameSync(dst, `${dst}.before-restore`);
      progress(`restore: kept the data that was there as ${dst}.before-restore`);
    }
    rmSync(join(dataDir, 'lock.mdb'), { force: true });
    const total = statSync(src).size;
    progress(`restore: copying ${src} (${mib(total)}) to ${dst}`);
    let copied = 0;
    let shown = 0;
    const reader = createReadStream(src);
    reader.on('data', (chunk) => {
      copied += chunk.length;
      const pct = Math.floor((copied / Math.max(1, total)) * 10);
      if (pct > shown && copied < total) {
        shown = pct;
        progress(`restore: ${pct * 10}% (${mib(copied)})`);
      }
    });
    await pipeline(reader, createWriteStream(`${dst}.partial`));
    renameSync(`${dst}.partial`, dst);
    progress(`restore: done: ${dst} (${mib(total)}); start the server with --data-dir ${dataDir}`);
  } finally {
    lock.release();
  }
}
