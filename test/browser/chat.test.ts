import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { launchChromium } from '../helpers/chromium.js';
import t from 'tap';
import { startChatServer } from '../examples/children.js';

/** Bound of every wait on the page. */
const WAIT = 20_000;

interface Row {
  offset: number;
  from: string;
  text: string;
}

/** The chat messages the page shows, from the DOM. */
function rows(page: Page): Promise<Row[]> {
  return page.$$eval('#messages li.msg', (lis) =>
    lis.map((li) => ({
      offset: Number((li as HTMLElement).dataset.offset),
      from: (li as HTMLElement).dataset.from ?? '',
      text: li.querySelector('.text')?.textContent ?? '',
    })),
  );
}

/** Wait until the page shows a message with this text. */
async function shows(page: Page, text: string): Promise<void> {
  await page.waitForFunction((want) => Array.from(document.querySelectorAll('#messages li.msg .text')).some((el) => el.textContent === want), text, { timeout: WAIT, polling: 50 });
}

/** Wait for the indicator's state (and, optionally, at least `reconnects` reconnects). */
async function status(page: Page, state: string, reconnects = 0): Promise<void> {
  await page.waitForFunction(
    ([s, r]) => {
      const el = document.getElementById('status');
      return el?.dataset.state === s && Number(el.dataset.reconnects) >= (r as number);
    },
    [state, reconnects] as const,
    { timeout: WAIT, polling: 50 },
  );
}

async function say(page: Page, text: string): Promise<void> {
  await page.fill('#text', text, { timeout: WAIT });
  await page.press('#text', 'Enter', { timeout: WAIT });
}

t.test('two browser pages chat through a server restart and see every message once', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'wsq-chat-browser-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));

  const first = await startChatServer(t, { PORT: '0', DATA_DIR: dataDir });
  const port = first.port;

  const browser = await launchChromium(t, WAIT);

  const errors: string[] = [];
  const open = async (name: string): Promise<Page> => {
    const context = await browser.newContext(); // own storage per user
    const page = await context.newPage();
    page.on('pageerror', (e) => errors.push(`${name}: ${e.message}`));
    await page.goto(`http://127.0.0.1:${port}/?name=${name}&room=lobby`, { timeout: WAIT });
    return page;
  };
  const ann = await open('ann');
  const bob = await open('bob');
  await Promise.all([status(ann, 'online'), status(bob, 'online')]);

  // Before the restart.
  await say(ann, 'hi bob');
  await shows(bob, 'hi bob');
  await say(bob, 'hi ann');
  await shows(ann, 'hi ann');
  await say(ann, 'how is it going?');
  await Promise.all([shows(ann, 'how is it going?'), shows(bob, 'how is it going?')]);

  // Kill the server by PID (no graceful close: the acks meant "on disk").
  first.child.kill('SIGKILL');
  await first.child.exit(WAIT);
  await Promise.all([status(ann, 'reconnecting'), status(bob, 'reconnecting')]);
  t.pass('both pages show "reconnecting"');

  // Typed while the server is down: held in the SDK's outbox, sent after the reconnect.
  await say(bob, 'anyone there?');

  const second = await startChatServer(t, { PORT: String(port), DATA_DIR: dataDir });
  t.equal(second.port, port, 'restarted on the same port and data directory');
  await Promise.all([status(ann, 'online', 1), status(bob, 'online', 1)]);
  t.pass('both pages are online again after one reconnect');

  // After the restart.
  await Promise.all([shows(ann, 'anyone there?'), shows(bob, 'anyone there?')]);
  await say(ann, 'back again');
  await shows(bob, 'back again');
  await say(bob, 'last one');
  await Promise.all([shows(ann, 'last one'), shows(bob, 'last one')]);

  const sent = ['hi bob', 'hi ann', 'how is it going?', 'anyone there?', 'back again', 'last one'];
  const expected: Row[] = sent.map((text, i) => ({ offset: i + 1, from: ['ann', 'bob', 'ann', 'bob', 'ann', 'bob'][i]!, text }));
  const annRows = await rows(ann);
  const bobRows = await rows(bob);
  // "last one" was sent last: any duplicate from the resume would have come before it.
  t.same(annRows, expected, "ann's page shows every message once, in offset order");
  t.same(bobRows, expected, "bob's page shows every message once, in offset order");

  // A page opened now gets the same list from the room's history (since: 'earliest').
  const eve = await open('eve');
  await status(eve, 'online');
  await shows(eve, 'last one');
  t.same(await rows(eve), expected, 'a new page gets the whole history');

  t.same(errors, [], 'no page errors');
});
