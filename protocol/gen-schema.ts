/**
 * Writes protocol/wsq-v1.schema.json from the zod schemas (`npm run schema`, which builds
 * first and runs dist/protocol/gen-schema.js). Run it after changing protocol/frames.ts;
 * test/unit/schema-json.test.ts fails while the file is stale.
 */
import { writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jsonSchemaText } from './schema.js';

// Compiled to dist/protocol/gen-schema.js: the source tree's protocol/ is two levels up from there.
const here = dirname(fileURLToPath(import.meta.url));
const root = here.endsWith(join('dist', 'protocol')) ? join(here, '..', '..') : join(here, '..');
const out = join(root, 'protocol', 'wsq-v1.schema.json');

writeFileSync(out, jsonSchemaText());
console.log(`wrote ${relative(process.cwd(), out) || out}`);
