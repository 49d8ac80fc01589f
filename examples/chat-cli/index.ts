#!/usr/bin/env node
/**
 * Chat in the terminal with the wsq client SDK. It joins a room with its history, prints
 * every message as `[room #offset] name: text`, and sends each line you type. It speaks
 * the same events as the browser chat (examples/chat), so both can talk.
 *
 *   node dist/examples/chat-cli/index.js --name ann --room lobby --url ws://127.0.0.1:3000/
 *
 * Interactive on a terminal (Ctrl-D or /quit to leave). When stdin is not a terminal it is
 * scriptable: it sends each line read, and once stdin has ended, every send is acked and
 * the history is printed, it exits (code 0; 1 if a send failed).
 *   printf 'hello\nbye\n' | node dist/examples/chat-cli/index.js --name bot
 *
 * Messages go to stdout; status lines (`* …`) to stderr.
 */
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { connect } from '../../lib/client/index.js';

/** The chat's events: the same as the browser page's. */
type ChatEvents = {
  message: { name: string; text: string };
};

const USAGE = `usage: chat-cli [--url ws://127.0.0.1:3000/] [--name NAME] [--room ROOM]
  --url   the wsq server (default $WSQ_URL or ws://127.0.0.1:3000/, the chat example's server)
  --name  your name in the chat (default $USER or "guest")
  --room  the room to join (default "lobby")`;

function options() {
  try {
    const { values } = parseArgs({
      options: {
        url: { type: 'string', default: process.env.WSQ_URL || 'ws://127.0.0.1:3000/' },
        name: { type: 'string', default: process.env.USER || 'guest' },
        room: { type: 'string', default: 'lobby' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
    if (values.help) {
      console.log(USAGE);
      process.exit(0);
    }
    return { url: values.url!, name: values.name!, room: values.room! };
  } catch (err) {
    console.error(`chat-cli: ${(err as Error).message}\n${USAGE}`);
    process.exit(2);
  }
}

const { url, name, room } = options();
const interactive = process.stdin.isTTY === true && process.stdout.isTTY === true;
const status = (line: string): void => void process.stderr.write(`* ${line}\n`);

const client = connect<ChatEvents, ChatEvents>(url);
let wasOpen = false;
client.on('open', () => (wasOpen = true));
client.on('close', ({ willReconnect, code }) => {
  if (willReconnect) status(`${wasOpen ? 'connection lost' : `cannot connect to ${url}`} (${code}), retrying…`);
});
client.on('reconnected', () => status('reconnected'));
client.on('error', (e) => status(`error: ${e.code}: ${e.message}`));

const rl = createInterface({ input: process.stdin, output: interactive ? process.stdout : undefined, terminal: interactive });
if (interactive) rl.setPrompt(`${name}> `);

/** Print a line, keeping the prompt (and what is being typed) below it on a terminal. */
function show(line: string): void {
  if (!interactive) {
    process.stdout.write(`${line}\n`);
    return;
  }
  process.stdout.write('\r\x1b[2K'); // clear the prompt line
  process.stdout.write(`${line}\n`);
  rl.prompt(true);
}

let seq = 0;
const session = `${process.pid}-${Date.now().toString(36)}`;
/** Sends not yet acked (or failed). */
let pending = 0;
let failed = false;
let stdinEnded = false;

// History and live messages. `echo` on our sends brings our own lines back with their
// offsets, so what is printed is exactly the room's log, each message once.
let lastOffset = 0;
let joinedAt: number | undefined;
const sub = client.join(room, { since: 'earliest' });
sub.on('message', (data, msg) => {
  if (msg.offset !== undefined) lastOffset = msg.offset;
  show(`[${room} #${msg.offset}] ${data?.name ?? '?'}: ${data?.text ?? JSON.stringify(data)}`);
  maybeExit();
});
sub.on('gap', (gap) => status(gap.epochChanged ? "the server lost this room's history" : `some history is gone (retention); it starts at #${gap.earliest}`));
sub.on('error', (e) => {
  status(`cannot join ${room}: ${e.message}`);
  failed = true;
  void quit();
});
sub.ready().then(
  (info) => {
    joinedAt ??= info.offset;
    status(`joined ${room} as ${name} on ${url} (${info.replay?.count ?? 0} earlier messages)${interactive ? '; Ctrl-D or /quit to leave' : ''}`);
    if (interactive) rl.prompt();
    maybeExit();
  },
  () => {},
);

rl.on('line', (input) => {
  const text = input.trim();
  if (interactive) process.stdout.write('\x1b[1A\x1b[2K'); // the echo of the message replaces the typed line
  if (text === '/quit') return rl.close();
  if (!text) {
    if (interactive) rl.prompt();
    return;
  }
  pending++;
  // A key makes the send safe to resend after a dropped connection: stored once.
  client
    .emitWithAck('message', { name, text }, { room, echo: true, key: `${session}-${++seq}`, timeoutMs: 30_000 })
    .catch((err: Error) => {
      failed = true;
      status(`not sent: "${text}": ${err.message}`);
    })
    .finally(() => {
      pending--;
      maybeExit();
    });
  if (interactive) rl.prompt();
});
rl.on('close', () => {
  stdinEnded = true;
  if (interactive) void quit();
  else maybeExit();
});

/** Scripted mode: leave once stdin has ended, every send is settled and the history is printed. */
function maybeExit(): void {
  if (!stdinEnded || interactive || pending > 0) return;
  if (joinedAt === undefined && !failed) return;
  if (joinedAt !== undefined && lastOffset < joinedAt) return;
  void quit();
}

let quitting = false;
async function quit(): Promise<void> {
  if (quitting) return;
  quitting = true;
  rl.close();
  await client.close();
  process.exit(failed ? 1 : 0);
}

process.on('SIGINT', () => void quit());
process.on('SIGTERM', () => void quit());
