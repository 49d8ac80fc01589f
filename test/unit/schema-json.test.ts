/**
 * protocol/wsq-v1.schema.json is generated from the zod schemas (protocol/schema.ts); this
 * test fails while the checked-in file is stale.
 */
import { readFileSync } from 'node:fs';
import t from 'tap';
import { CLIENT_FRAMES, ServerFrame } from '../../protocol/frames.js';
import { buildJsonSchema, jsonSchemaText, SCHEMA_ID } from '../../protocol/schema.js';

const file = new URL('../../protocol/wsq-v1.schema.json', import.meta.url);

t.test('the checked-in JSON Schema is up to date', async (t) => {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    t.fail('protocol/wsq-v1.schema.json is missing: run `npm run schema` and commit the file');
    return;
  }
  const fresh = jsonSchemaText();
  if (text === fresh) {
    t.pass('protocol/wsq-v1.schema.json matches buildJsonSchema()');
    return;
  }
  // One failure that shows what differs and says how to fix it.
  let onDisk: unknown;
  try {
    onDisk = JSON.parse(text);
  } catch {
    t.fail('protocol/wsq-v1.schema.json is not valid JSON: run `npm run schema`');
    return;
  }
  const stale = 'protocol/wsq-v1.schema.json is stale: run `npm run schema` and commit the file';
  if (JSON.stringify(onDisk) !== JSON.stringify(buildJsonSchema())) t.strictSame(onDisk, buildJsonSchema(), stale);
  else t.equal(text, fresh, `${stale} (only its formatting differs: 2 spaces, trailing newline)`);
});

t.test('buildJsonSchema() is stable and plain JSON', async (t) => {
  const a = buildJsonSchema();
  t.strictSame(buildJsonSchema(), a, 'two builds are equal');
  t.strictSame(JSON.parse(JSON.stringify(a)), a, 'survives a JSON round trip');
  t.ok(jsonSchemaText().endsWith('}\n'), 'the text ends with one newline');
});

t.test('the document names itself and covers both directions', async (t) => {
  const s = buildJsonSchema() as { $schema: string; $id: string; title: string; description: string; anyOf: { $ref: string }[]; $defs: Record<string, Record<string, unknown>> };
  t.equal(s.$schema, 'https://json-schema.org/draft/2020-12/schema');
  t.equal(s.$id, SCHEMA_ID);
  t.ok(s.title.length > 0 && s.description.length > 0, 'has a title and a description');
  t.strictSame(s.anyOf, [{ $ref: '#/$defs/ClientFrame' }, { $ref: '#/$defs/ServerFrame' }]);
  const clientRefs = (s.$defs.ClientFrame!.oneOf as { $ref: string }[]).map((r) => r.$ref);
  const serverRefs = (s.$defs.ServerFrame!.oneOf as { $ref: string }[]).map((r) => r.$ref);
  t.equal(clientRefs.length, Object.keys(CLIENT_FRAMES).length, 'one client definition per client frame type');
  t.equal(serverRefs.length, ServerFrame.options.length, 'one server definition per server frame type');
  for (const ref of [...clientRefs, ...serverRefs]) {
    const name = ref.replace('#/$defs/', '');
    const def = s.$defs[name];
    t.ok(def, `${name} is defined`);
    t.equal(def?.additionalProperties, false, `${name} is closed (unknown fields are errors)`);
    t.ok(typeof def?.description === 'string', `${name} is described`);
  }
  const types = clientRefs.map((r) => (s.$defs[r.replace('#/$defs/', '')]!.properties as Record<string, { const: string }>).type.const);
  t.strictSame(types, Object.keys(CLIENT_FRAMES), 'client definitions in frame-type order');
});

t.test('the refinement on event names becomes a "not" clause instead of throwing', async (t) => {
  const s = buildJsonSchema() as { $defs: Record<string, Record<string, unknown>> };
  const ev = s.$defs.EventName!;
  t.equal(ev.type, 'string');
  t.match(ev.not, { anyOf: [{ pattern: '^\\$' }, { enum: ['connect', 'connect_error', 'disconnect', 'disconnecting', 'newListener', 'removeListener'] }] });
  const emit = s.$defs.EmitFrame!.properties as Record<string, unknown>;
  t.strictSame(emit.event, { $ref: '#/$defs/EventName' }, 'emit.event uses EventName');
});

t.test('R1.7 R1.12 the published names carry their length and control-character rule; R4.5.8 an emit room never starts with "$"', async (t) => {
  const s = buildJsonSchema() as { $defs: Record<string, Record<string, unknown>> };
  const ctl = new RegExp(s.$defs.GroupName!.pattern as string);
  t.ok(ctl.test('workers') && !ctl.test('a\u0000b') && !ctl.test('a\u007f'), 'the pattern refuses control characters');
  for (const [name, max] of [
    ['Namespace', 256],
    ['EmitRoom', 256],
    ['EventName', 256],
    ['GroupName', 128],
    ['IdempotencyKey', 128],
    ['Epoch', 64],
  ] as const) {
    t.equal(s.$defs[name]!.maxLength, max, `${name}: maxLength ${max} (characters, implied by the byte limit)`);
    t.equal(s.$defs[name]!.minLength, 1, `${name}: minLength 1`);
  }
  const emitRoom = new RegExp(s.$defs.EmitRoom!.pattern as string);
  t.ok(emitRoom.test('jobs') && !emitRoom.test('$dead:jobs'), 'EmitRoom refuses $ rooms');
  const room = s.$defs.RoomName!.anyOf as { pattern: string; maxLength: number }[];
  t.ok(
    room.some((r) => new RegExp(r.pattern).test('$dead:jobs') && r.maxLength === 262),
    'RoomName admits $dead:<room> up to 262 characters',
  );
  t.strictSame((s.$defs.ConnectFrame!.properties as Record<string, unknown>).auth, { type: 'object' }, 'auth is an object');
  const id = s.$defs.RequestId!.anyOf as { type: string; maxLength?: number }[];
  t.equal(id.find((b) => b.type === 'string')?.maxLength, 64, 'a string id has maxLength 64');
});
