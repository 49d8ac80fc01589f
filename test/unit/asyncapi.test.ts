/**
 * protocol/wsq-v1.asyncapi.json is generated from the zod frames through the JSON Schema
 * (protocol/gen-asyncapi.ts); this test fails while the checked-in file is stale, and checks the
 * document's AsyncAPI 3 structure (no AsyncAPI validator is installed: these checks are the test).
 */
import t from 'tap';
import { SUBPROTOCOL } from '../../protocol/codes.js';
import { CLIENT_FRAMES, ServerFrame } from '../../protocol/frames.js';
import { asyncApiText, buildAsyncApi, CHANNEL } from '../../protocol/gen-asyncapi.js';
import { buildJsonSchema } from '../../protocol/schema.js';
import { checkGenerated } from '../helpers/generated.js';

type Json = Record<string, unknown>;
interface Message {
  name: string;
  payload: { $ref: string };
  contentType: string;
  correlationId?: { $ref: string };
}
interface Operation {
  action: 'send' | 'receive';
  channel: { $ref: string };
  messages: { $ref: string }[];
  reply?: { channel: { $ref: string }; messages: { $ref: string }[] };
}
interface Doc {
  asyncapi: string;
  info: { title: string; version: string; description: string; license: { name: string } };
  servers: Record<string, { host: string; protocol: string; description: string }>;
  channels: Record<string, { address: string; messages: Record<string, { $ref: string }>; bindings: { ws: Json } }>;
  operations: Record<string, Operation>;
  components: { schemas: Record<string, Json>; messages: Record<string, Message>; correlationIds: Record<string, { location: string }> };
}

const file = new URL('../../protocol/wsq-v1.asyncapi.json', import.meta.url);
const doc = buildAsyncApi() as unknown as Doc;
const CLIENT_TYPES = Object.keys(CLIENT_FRAMES);
const SERVER_TYPES = ServerFrame.options.map((o) => o.shape.type.value as string);

/** The value a local `$ref` ("#/a/b") points to, or undefined. */
function resolveRef(ref: string): unknown {
  if (!ref.startsWith('#/')) return undefined;
  let at: unknown = doc;
  for (const raw of ref.slice(2).split('/')) {
    const key = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    if (typeof at !== 'object' || at === null || !Object.hasOwn(at, key)) return undefined;
    at = (at as Json)[key];
  }
  return at;
}
/** Every `$ref` in a JSON value. */
function refsIn(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) for (const v of value) refsIn(v, out);
  else if (typeof value === 'object' && value !== null)
    for (const [k, v] of Object.entries(value)) {
      if (k === '$ref' && typeof v === 'string') out.push(v);
      else refsIn(v, out);
    }
  return out;
}
const message = (ref: { $ref: string }): Message => resolveRef((resolveRef(ref.$ref) as { $ref: string }).$ref) as Message;

t.test('the checked-in AsyncAPI document is up to date', async (t) => {
  checkGenerated(t, file, 'protocol/wsq-v1.asyncapi.json', asyncApiText, buildAsyncApi);
});

t.test('buildAsyncApi() is stable and plain JSON', async (t) => {
  t.strictSame(buildAsyncApi(), doc, 'two builds are equal');
  t.strictSame(JSON.parse(JSON.stringify(doc)), doc, 'survives a JSON round trip');
});

t.test('an AsyncAPI 3.0.0 document with info, a ws server and the WebSocket channel at "/"', async (t) => {
  t.equal(doc.asyncapi, '3.0.0');
  t.equal(doc.info.version, '1', 'info.version is the protocol version');
  t.ok(doc.info.title && doc.info.description && doc.info.license.name, 'info has a title, a description and a license');
  const servers = Object.values(doc.servers);
  t.ok(servers.length > 0, 'at least one server');
  t.match(servers[0], { host: 'localhost:8080', protocol: 'ws' });
  t.match(servers[0]!.description, SUBPROTOCOL, 'the server names the sub-protocol');
  t.strictSame(Object.keys(doc.channels), [CHANNEL], 'one channel');
  t.equal(doc.channels[CHANNEL]!.address, '/');
  t.match(doc.channels[CHANNEL]!.bindings.ws, { method: 'GET', bindingVersion: '0.1.0', headers: { properties: { 'Sec-WebSocket-Protocol': { examples: [SUBPROTOCOL] } } } });
});

t.test('every client frame and every server frame has a message whose payload is its JSON Schema', async (t) => {
  const channelMessages = Object.values(doc.channels[CHANNEL]!.messages).map((r) => r.$ref);
  t.strictSame(
    channelMessages.sort(),
    Object.keys(doc.components.messages)
      .map((k) => `#/components/messages/${k}`)
      .sort(),
    'the channel carries every message',
  );
  const send = Object.values(doc.operations).filter((o) => o.action === 'send');
  const receive = Object.values(doc.operations).filter((o) => o.action === 'receive');
  t.strictSame(
    send.flatMap((o) => o.messages.map((m) => message(m).name)),
    CLIENT_TYPES,
    'one send operation per client frame type, in frame-type order',
  );
  t.strictSame(
    receive.flatMap((o) => o.messages.map((m) => message(m).name)),
    SERVER_TYPES,
    'the receive operations carry every server frame type',
  );
  const json = buildJsonSchema() as { $defs: Record<string, Json> };
  for (const m of Object.values(doc.components.messages)) {
    const def = m.payload.$ref.replace('#/components/schemas/', '');
    t.equal(m.contentType, 'application/json', `${def}: JSON`);
    const schema = doc.components.schemas[def]!;
    t.equal((schema.properties as Record<string, { const: string }>).type.const, m.name, `${def}: the message name is the frame type`);
    // The payload is the JSON Schema's definition, with its references moved into components.schemas: nothing restated.
    t.equal(JSON.stringify(schema).replaceAll('#/components/schemas/', '#/$defs/'), JSON.stringify(json.$defs[def]), `${def}: the payload is the JSON Schema definition`);
    t.equal(m.correlationId !== undefined, (schema.properties as Json).id !== undefined, `${def}: correlated by id exactly when it has one`);
  }
  t.strictSame(Object.keys(doc.components.schemas), Object.keys(json.$defs), 'components.schemas carries every $defs entry');
});

t.test('operations follow AsyncAPI 3: their messages and replies are messages of their channel', async (t) => {
  for (const [id, op] of Object.entries(doc.operations)) {
    for (const m of [...op.messages, ...(op.reply?.messages ?? [])]) {
      const channel = m.$ref.split('/messages/')[0];
      t.equal(channel, op.reply?.messages.includes(m) ? op.reply.channel.$ref : op.channel.$ref, `${id}: ${m.$ref} is in its channel`);
    }
    if (op.reply)
      t.ok(
        op.reply.messages.every((m) => SERVER_TYPES.includes(message(m).name)),
        `${id}: its replies are server frames`,
      );
  }
  t.strictSame(
    doc.operations.sendPing!.reply!.messages.map((m) => message(m).name),
    ['pong'],
    'ping is answered by pong',
  );
  t.notOk(doc.operations.sendAck!.reply, 'ack has no reply (§4.6)');
  t.notOk(doc.operations.sendNack!.reply, 'nack has no reply (§4.7)');
});

t.test('every $ref resolves, and none points into a $defs the document does not have', async (t) => {
  const refs = refsIn(doc);
  t.ok(refs.length > 50, `${refs.length} references`);
  const broken = refs.filter((r) => resolveRef(r) === undefined);
  t.strictSame(broken, [], 'no dangling $ref');
  t.notOk(JSON.stringify(doc).includes('#/$defs/'), 'no reference to #/$defs');
  t.equal(doc.components.correlationIds.requestId!.location, '$message.payload#/id');
});

t.test('the payload schemas use only keywords that mean the same in AsyncAPI Schema (JSON Schema draft-07)', async (t) => {
  const DRAFT7 = new Set(
    '$ref type properties required additionalProperties const enum anyOf oneOf allOf not if then else items minItems maxItems minLength maxLength pattern minimum maximum exclusiveMinimum exclusiveMaximum description examples'.split(
      ' ',
    ),
  );
  const used = new Set<string>();
  const walk = (s: unknown): void => {
    if (Array.isArray(s)) for (const x of s) walk(x);
    else if (typeof s === 'object' && s !== null)
      for (const [k, v] of Object.entries(s)) {
        used.add(k);
        if (k === 'properties') for (const p of Object.values(v as Json)) walk(p);
        else walk(v);
      }
  };
  for (const s of Object.values(doc.components.schemas)) walk(s);
  t.strictSame(
    [...used].filter((k) => !DRAFT7.has(k)),
    [],
    'no draft 2020-12-only keyword (prefixItems, $defs, dependentRequired, …)',
  );
});
