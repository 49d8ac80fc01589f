/**
 * The test runner's TypeScript loader: `node --import ./test/loader/register.mjs file.ts` runs a
 * TypeScript file by stripping its types with esbuild (a few milliseconds a file, where a
 * compiler-based loader spent seconds per test process). Types are checked once, by
 * `npm run typecheck` (tsc), before the tests run; tsconfig's `isolatedModules` keeps every file
 * safe to transpile alone.
 */
import { register } from 'node:module';

register('./hooks.mjs', import.meta.url);
