/** Debian's Chromium, driven by playwright-core, for the browser tests (no browser download). */
import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';

/** Where Debian's `chromium` package puts the browser. */
export const CHROMIUM = '/usr/bin/chromium';
/** Headless, and nothing that would reach out to the network (this machine has none). */
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Start Chromium for one test (closed at teardown); a missing or failing browser is an error that says how to fix it. */
export async function launchChromium(t: { teardown(fn: () => unknown): void }, timeoutMs: number): Promise<Browser> {
  if (!existsSync(CHROMIUM))
    throw new Error(`Chromium is not installed at ${CHROMIUM}: this test needs Debian's "chromium" package (apt-get install chromium; CI's .ci/run installs it).`);
  let browser: Browser;
  try {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, timeout: timeoutMs });
  } catch (err) {
    throw new Error(`Chromium at ${CHROMIUM} did not start: ${(err as Error).message}`);
  }
  t.teardown(() => browser.close());
  return browser;
}
