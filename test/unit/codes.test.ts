/**
 * PROTOCOL.md and protocol/codes.ts agree: every error code is documented in §7 and every
 * code documented there exists; every close code is in §2.5; every client frame type has
 * its §4 heading (and every server frame type a §6 heading); the section numbers are
 * those of docs/protocol-outline.md.
 */
import { readFileSync } from 'node:fs';
import t from 'tap';
import { CLOSE_CODES, ERROR_CODES, TERMINAL_CLOSE_CODES } from '../../protocol/codes.js';
import { CLIENT_FRAMES, ServerFrame } from '../../protocol/frames.js';

const spec = readFileSync(new URL('../../protocol/PROTOCOL.md', import.meta.url), 'utf8');
const outline = readFileSync(new URL('../../docs/protocol-outline.md', import.meta.url), 'utf8');
const lines = spec.split('\n');

/** The lines of a section, from its heading (e.g. "## 7." or "### 2.5") to the next heading of the same or a higher level. */
function section(number: string): string[] {
  const level = number.includes('.') ? '###' : '##';
  const start = lines.findIndex((l) => l.startsWith(`${level} ${number}${level === '##' ? '.' : ''} `));
  if (start < 0) return [];
  const end = lines.findIndex((l, i) => i > start && (l.startsWith('## ') || (level === '###' && l.startsWith('### '))));
  return lines.slice(start, end < 0 ? undefined : end);
}

/** The first cell of every table row of some lines (header and separator rows excluded). */
function firstCells(ls: string[]): string[] {
  return ls.filter((l) => l.startsWith('|') && !/^\|[-\s|]+\|$/.test(l)).map((l) => l.split('|')[1]!.trim());
}

t.test('§7 lists every error code, and only those', async (t) => {
  const s7 = section('7');
  t.ok(s7.length > 0, '§7 exists');
  const documented = firstCells(s7)
    .map((c) => /^`([a-z_]+)`$/.exec(c)?.[1])
    .filter((c): c is string => c !== undefined);
  for (const code of Object.keys(ERROR_CODES)) t.ok(documented.includes(code), `${code} is in §7`);
  for (const code of documented) t.ok(code in ERROR_CODES, `§7's ${code} exists in ERROR_CODES`);
  t.equal(new Set(documented).size, documented.length, 'no code is listed twice');
  t.equal(documented.length, Object.keys(ERROR_CODES).length, 'as many rows as codes');
});

t.test('§7 gives each code a meaning and what to do', async (t) => {
  for (const row of section('7').filter((l) => /^\| `[a-z_]+` \|/.test(l))) {
    const cells = row
      .split('|')
      .slice(1, -1)
      .map((c) => c.trim());
    t.equal(cells.length, 5, `${cells[0]}: five columns`);
    t.ok(
      cells.every((c) => c.length > 0),
      `${cells[0]}: no empty cell`,
    );
    t.ok(cells[3] === 'yes' || cells[3] === 'no', `${cells[0]}: says whether it counts toward the bad-frame limit`);
  }
});

t.test('§2.5 lists every close code with its name', async (t) => {
  const s25 = section('2.5');
  t.ok(s25.length > 0, '§2.5 exists');
  const rows = s25.filter((l) => /^\| \d{4} \|/.test(l));
  const numbers = rows.map((r) => Number(r.split('|')[1]!.trim()));
  for (const [name, code] of Object.entries(CLOSE_CODES)) {
    const row = rows.find((r) => r.startsWith(`| ${code} |`));
    t.ok(row, `${code} is in §2.5`);
    t.ok(row?.includes(`\`${name}\``), `${code} is named ${name}`);
  }
  const known: number[] = Object.values(CLOSE_CODES);
  for (const n of numbers) t.ok(known.includes(n), `§2.5's ${n} exists in CLOSE_CODES`);
  const text = s25.join('\n');
  for (const code of TERMINAL_CLOSE_CODES) t.match(text, new RegExp(`\\b${code}\\b.*\\bnot\\b`, 's'), `§2.5 says not to reconnect after ${code}`);
});

t.test('§4 has a heading for every client frame type, in order', async (t) => {
  // §4.9 (binary messages, feature `binary`) is not a frame type: only the frame headings (### 4.N `type`) are counted.
  const headings = lines.filter((l) => /^### 4\.\d+ `\w+`$/.test(l));
  const types = headings.map((h) => /^### 4\.\d+ `(\w+)`$/.exec(h)?.[1]);
  t.strictSame(types, Object.keys(CLIENT_FRAMES), '§4.1–§4.8 are connect, disconnect, join, leave, emit, ack, nack, ping');
  for (const type of Object.keys(CLIENT_FRAMES)) {
    const n = types.indexOf(type) + 1;
    const body = section(`4.${n}`).join('\n');
    t.match(body, /^> \{"type":"/m, `§4.${n} ${type} has a wscat example`);
    t.match(body, /\| Field \| Type \| Required \|/, `§4.${n} ${type} has a field table`);
  }
});

t.test('§6 has a heading for every server frame type', async (t) => {
  const named = lines.filter((l) => /^### 6\.\d+ /.test(l)).flatMap((h) => [...h.matchAll(/`(\w+)`/g)].map((m) => m[1]!));
  for (const option of ServerFrame.options) t.ok(named.includes(option.shape.type.value), `${option.shape.type.value} has a §6 heading`);
});

t.test('the section numbers are those of docs/protocol-outline.md', async (t) => {
  const expected: string[] = [];
  for (const line of outline.split('\n')) {
    const top = /^(\d+)\. /.exec(line);
    if (!top) continue;
    expected.push(top[1]!);
    for (const m of line.matchAll(/(?:—|·)\s*(\d+\.\d+) /g)) expected.push(m[1]!);
  }
  t.ok(expected.length > 30, 'the outline was read');
  const actual = lines.map((l) => /^## (\d+)\. /.exec(l)?.[1] ?? /^### (\d+\.\d+) /.exec(l)?.[1]).filter((n): n is string => n !== undefined);
  t.strictSame(actual, expected, 'same numbered headings, same order');
});
