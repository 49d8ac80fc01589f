/**
 * The conformance runner's requirement table (lib/conformance/requirements.ts) lists exactly
 * the numbered requirements of PROTOCOL.md, in order, and every check names requirements
 * that exist. When this fails after a requirement was added to PROTOCOL.md, add it to the
 * table (with a check, or with the reason it cannot be checked over a wire).
 */
import { readFileSync } from 'node:fs';
import t from 'tap';
import { CHECKS, REQUIREMENTS } from '../../lib/conformance/index.js';

const spec = readFileSync(new URL('../../protocol/PROTOCOL.md', import.meta.url), 'utf8');
const inSpec = [...spec.matchAll(/\*\*(R\d+(?:\.\d+)+)\*\*/g)].map((m) => m[1]!);

t.test('the runner lists every R-number of PROTOCOL.md, in order, and no other', async (t) => {
  const ours = REQUIREMENTS.map((r) => r.id);
  t.ok(inSpec.length > 150, `PROTOCOL.md was read (${inSpec.length} requirements)`);
  t.same(
    inSpec.filter((id) => !ours.includes(id)),
    [],
    'requirements of PROTOCOL.md missing from lib/conformance/requirements.ts',
  );
  t.same(
    ours.filter((id) => !inSpec.includes(id)),
    [],
    'requirements of the runner that PROTOCOL.md does not have',
  );
  t.strictSame(ours, inSpec, 'same order');
  t.equal(new Set(inSpec).size, inSpec.length, 'PROTOCOL.md defines each number once');
});

t.test('every check names requirements that exist; untestable ones have no check', async (t) => {
  const ids = new Set(REQUIREMENTS.map((r) => r.id));
  for (const c of CHECKS) for (const r of c.reqs) t.ok(ids.has(r), `check "${c.name}" names ${r}`);
  const checked = new Set(CHECKS.flatMap((c) => c.reqs));
  for (const r of REQUIREMENTS) if (r.untestable) t.notOk(checked.has(r.id), `${r.id} is marked untestable and has no check`);
  t.ok(checked.size >= 100, `checks decide ${checked.size} requirements`);
});

t.test('every requirement cited in PROTOCOL.md text is defined there', async (t) => {
  const cited = new Set([...spec.matchAll(/(?<![*\w])(R\d+(?:\.\d+)+)\b/g)].map((m) => m[1]!));
  const defined = new Set(inSpec);
  t.same(
    [...cited].filter((r) => !defined.has(r)),
    [],
    'no citation of an undefined requirement',
  );
});
