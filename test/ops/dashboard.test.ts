/**
 * Issue 11 item 5: the dashboard at /dashboard in headless Chromium (Debian `chromium` driven
 * by `playwright-core`, launch flags as in test/browser/chat.test.ts) against a `wsq serve` child
 * with scripted traffic: rooms with members, a group with lag, a dead letter, a refused
 * connection, messages over time. The page asks for the admin key, shows it all, and its
 * re-drive button empties the dead-letter room. Screenshots are kept (paths in the output) and
 * copied to /tmp/wsq-dashboard.png (before the re-drive) and /tmp/wsq-dashboard-after.png.
 * Needs dist/ (`npx tsc -p tsconfig.json`) and Chromium at /usr/bin/chromium.
 */
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { launchChromium } from '../helpers/chromium.js';
import t from 'tap';
import { WebSocket } from 'ws';
import { ADMIN_KEY, adminApi, serve, tmp, traffic, until } from './admin-fixture.js';

/** Bound of every wait on the page. */
const WAIT = 15_000;

/** The text of the first cell matching `selector` once `ok` accepts it (bounded). */
async function cell(page: Page, selector: string, want: string): Promise<void> {
  await page.waitForFunction(([s, w]) => document.querySelector(s as string)?.textContent?.trim() === w, [selector, want] as const, { timeout: WAIT, polling: 100 });
}

t.test('the dashboard shows rooms, group lag, dead letters, refusals and rates of real traffic, and re-drives a dead letter', async (t) => {
  const { http, ws } = await serve(t, join(tmp(t), 'data'));
  const { publisher } = await traffic(t, ws);

  // A refused connection: an unknown sub-protocol is answered 400 at the upgrade.
  const refused = await new Promise<number>((resolve) => {
    const bad = new WebSocket(ws, ['not-wsq']);
    bad.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    bad.on('error', () => {});
  });
  t.equal(refused, 400, 'the scripted refusal');

  // Messages over time, until the server's rate ring has counted some (it samples once a second).
  let n = 0;
  await until(
    async () => {
      for (let i = 0; i < 5; i++) await publisher.request({ type: 'emit', room: 'orders', event: 'order', data: { n: ++n }, id: 100 + n });
      const rates = (await adminApi(http, 'GET', 'stats')).body.rates as { messages: number }[];
      return rates.some((b) => b.messages > 0) ? true : undefined;
    },
    8000,
    'the rate ring to count messages',
  );

  const browser = await launchChromium(t, WAIT);
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));

  await page.goto(`${http}/dashboard`, { timeout: WAIT });
  await page.fill('#key', 'wsq_wrong-key');
  await page.click('#enter');
  await page.waitForFunction(() => /not an admin key/.test(document.getElementById('error')?.textContent ?? ''), undefined, { timeout: WAIT });
  t.pass("a wrong key is refused with the server's reason, and the page asks again");

  await page.fill('#key', ADMIN_KEY);
  await page.click('#enter');
  await cell(page, '#rooms tr[data-room="jobs"] .members', '2');
  await cell(page, '#rooms tr[data-room="jobs"] .last', '3');
  t.pass('the rooms table shows jobs with 2 members and last offset 3');
  await cell(page, '#groups tr[data-consumer="group:workers"] .lagv', '1');
  t.pass('the group shows lag 1');
  await cell(page, '#dead tr[data-room="jobs"] .count', '1');
  t.pass('the dead-letter room shows 1');
  await page.waitForFunction(() => /unsupported sub-protocol/.test(document.getElementById('refusals')?.textContent ?? ''), undefined, { timeout: WAIT });
  t.pass('the refusal is listed with its reason');
  // Empty buckets may be drawn as bars of height 0: wait for one that shows the counted messages.
  await page.waitForFunction(() => Array.from(document.querySelectorAll('#chart rect.bar')).some((r) => Number(r.getAttribute('height')) > 0), undefined, {
    timeout: WAIT,
    polling: 100,
  });
  t.pass('the rate chart has bars');
  t.equal(await page.textContent('#connections'), '3', 'three connections (publisher, live member, worker)');
  t.equal(await page.evaluate(() => sessionStorage.getItem('wsq-admin-key')), ADMIN_KEY, 'the key is kept in sessionStorage');

  const shots = mkdtempSync(join(tmpdir(), 'wsq-dashboard-'));
  const before = join(shots, 'dashboard.png');
  await page.screenshot({ path: before, fullPage: true });
  copyFileSync(before, '/tmp/wsq-dashboard.png');
  t.comment(`screenshot: ${before} (copied to /tmp/wsq-dashboard.png)`);

  await page.click('#dead tr[data-room="jobs"] button.redrive');
  await cell(page, '#dead tr[data-room="jobs"] .count', '0');
  t.pass('after re-drive the dead-letter count is 0');
  await cell(page, '#rooms tr[data-room="jobs"] .last', '4');
  t.pass('and the dead letter is back in jobs (offset 4)');
  const after = join(shots, 'dashboard-after.png');
  await page.screenshot({ path: after, fullPage: true });
  copyFileSync(after, '/tmp/wsq-dashboard-after.png');
  t.comment(`screenshot: ${after} (copied to /tmp/wsq-dashboard-after.png)`);
  t.same(errors, [], 'no page errors');
});
