/**
 * The staleness check of a generated, checked-in JSON file (protocol/wsq-v1.schema.json,
 * protocol/wsq-v1.asyncapi.json): one failure that shows what differs and says how to fix it.
 */
import { readFileSync } from 'node:fs';
import type { Test } from 'tap';

/** Fail `t` unless the file at `url` (shown as `name`) holds exactly `text()`, the JSON text of `build()`. */
export function checkGenerated(t: Test, url: URL, name: string, text: () => string, build: () => unknown): void {
  let onDisk: string;
  try {
    onDisk = readFileSync(url, 'utf8');
  } catch {
    t.fail(`${name} is missing: run \`npm run schema\` and commit the file`);
    return;
  }
  const fresh = text();
  if (onDisk === fresh) {
    t.pass(`${name} is up to date`);
    return;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(onDisk);
  } catch {
    t.fail(`${name} is not valid JSON: run \`npm run schema\``);
    return;
  }
  const stale = `${name} is stale: run \`npm run schema\` and commit the file`;
  if (JSON.stringify(parsed) !== JSON.stringify(build())) t.strictSame(parsed, build(), stale);
  else t.equal(onDisk, fresh, `${stale} (only its formatting differs: 2 spaces, trailing newline)`);
}
