/**
 * The AsyncAPI 3 document of wsq/1, built from the JSON Schema that protocol/schema.ts
 * generates from the zod frames (so no frame is described twice). `npm run schema` writes it to
 * `protocol/wsq-v1.asyncapi.json` (running dist/protocol/gen-asyncapi.js); test/unit/asyncapi.test.ts
 * fails while that file is stale.
 *
 * Shape: one channel (the WebSocket at "/"), one message per frame type and direction, keyed by
 * the frame's `$defs` name (`ClientAckFrame` and `ServerAckFrame` share the wire type "ack"),
 * with `name` = the frame's `type`. Operations are a client's: one `send` operation per client
 * frame, with its reply when the protocol defines one, and one `receive` operation for every
 * server frame (events, presence, a server-side leave and errors arrive unasked, so the server's
 * frames are not tied to a request).
 */
import { writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PROTOCOL_VERSION, SUBPROTOCOL } from './codes.js';
import type { ClientFrameType, ServerFrame } from './frames.js';
import { buildJsonSchema, SCHEMA_ID } from './schema.js';

/** The one channel's key: `#/channels/wsq`. */
export const CHANNEL = 'wsq';

/**
 * The frames a server answers each client frame with (PROTOCOL.md §4; every request may also be
 * answered by `error`, §6.7). `ack` and `nack` have no reply (§4.6, §4.7).
 */
const REPLIES: Record<ClientFrameType, ServerFrame['type'][]> = {
  connect: ['connected', 'error'],
  disconnect: ['disconnected', 'error'],
  join: ['joined', 'error'],
  leave: ['left', 'error'],
  emit: ['ack', 'error'],
  ack: [],
  nack: [],
  ping: ['pong'],
};

type Json = Record<string, unknown>;

/** A copy of a JSON value whose `#/$defs/X` references point to `#/components/schemas/X`. */
function rebase(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(rebase);
  if (typeof value !== 'object' || value === null) return value;
  const out: Json = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = k === '$ref' && typeof v === 'string' && v.startsWith('#/$defs/') ? `#/components/schemas/${v.slice('#/$defs/'.length)}` : rebase(v);
  }
  return out;
}

/** The frame definitions (`$defs` names) of one direction, in the order of its `oneOf`, with their wire `type`. */
function framesOf(defs: Record<string, Json>, union: 'ClientFrame' | 'ServerFrame'): { def: string; type: string }[] {
  return (defs[union]!.oneOf as { $ref: string }[]).map(({ $ref }) => {
    const def = $ref.slice('#/$defs/'.length);
    return { def, type: ((defs[def]!.properties as Record<string, { const: string }>).type as { const: string }).const };
  });
}

/**
 * Build the AsyncAPI 3.0.0 document of wsq/1: plain JSON data, the same on every call.
 * @example
 * import { buildAsyncApi } from 'wsq/protocol/gen-asyncapi';
 * buildAsyncApi().channels.wsq.address; // '/'
 */
export function buildAsyncApi(): Json {
  const schema = buildJsonSchema();
  const defs = schema.$defs as Record<string, Json>;
  const client = framesOf(defs, 'ClientFrame');
  const server = framesOf(defs, 'ServerFrame');
  const serverDef = (type: string): string => server.find((f) => f.type === type)!.def;
  const channelRef = { $ref: `#/channels/${CHANNEL}` };
  const inChannel = (def: string): Json => ({ $ref: `#/channels/${CHANNEL}/messages/${def}` });

  const messages: Json = {};
  for (const [direction, frames] of [
    ['Client to server', client],
    ['Server to client', server],
  ] as const) {
    for (const { def, type } of frames) {
      const hasId = (defs[def]!.properties as Json).id !== undefined;
      messages[def] = {
        name: type,
        title: `${type} (${direction.toLowerCase()})`,
        summary: defs[def]!.description,
        contentType: 'application/json',
        payload: { $ref: `#/components/schemas/${def}` },
        ...(hasId ? { correlationId: { $ref: '#/components/correlationIds/requestId' } } : {}),
      };
    }
  }

  const operations: Json = {};
  for (const { def, type } of client) {
    const reply = REPLIES[type as ClientFrameType];
    operations[`send${type[0]!.toUpperCase()}${type.slice(1)}`] = {
      action: 'send',
      channel: channelRef,
      title: `Send ${type}`,
      summary: defs[def]!.description,
      messages: [inChannel(def)],
      ...(reply.length > 0 ? { reply: { channel: channelRef, messages: reply.map((t) => inChannel(serverDef(t))) } } : {}),
    };
  }
  operations.receive = {
    action: 'receive',
    channel: channelRef,
    title: 'Receive server frames',
    summary: `Every frame a server sends: welcome first (R6.1.1), then replies to requests (matched by "id") and frames the server sends unasked (event, presence, left, error).`,
    messages: server.map(({ def }) => inChannel(def)),
  };

  return {
    asyncapi: '3.0.0',
    id: 'urn:wsq:protocol:wsq-v1',
    info: {
      title: 'wsq/1',
      version: String(PROTOCOL_VERSION),
      description:
        `wsq/1, a message-queue protocol over one WebSocket (sub-protocol "${SUBPROTOCOL}"): namespaces, rooms, emit, acks both ways, and replay ` +
        "from ordered room logs. Every frame is one JSON object in one text message. Operations are described from a client's side: it sends " +
        `client frames and receives server frames. Normative text: protocol/PROTOCOL.md; the payload schemas are the JSON Schema ${SCHEMA_ID} ` +
        '(protocol/wsq-v1.schema.json). Generated from protocol/frames.ts by `npm run schema`; do not edit.',
      license: { name: 'MIT', url: 'https://opensource.org/licenses/MIT' },
    },
    defaultContentType: 'application/json',
    servers: {
      local: {
        host: 'localhost:8080',
        protocol: 'ws',
        title: 'A local reference server',
        summary: 'wsq serve --port 8080',
        description: `The reference server as \`wsq serve --port 8080\` starts it; \`wss\` when TLS is configured. Offer the WebSocket sub-protocol "${SUBPROTOCOL}" (or none, R2.1.1-R2.1.3).`,
      },
    },
    channels: {
      [CHANNEL]: {
        address: '/',
        title: 'The wsq/1 WebSocket',
        description: 'One WebSocket carries every namespace and room; the reference server serves it on "/" (PROTOCOL.md §2.1). The first frame the server sends is welcome.',
        messages: Object.fromEntries([...client, ...server].map(({ def }) => [def, { $ref: `#/components/messages/${def}` }])),
        bindings: {
          ws: {
            method: 'GET',
            query: {
              type: 'object',
              properties: {
                client: { type: 'string', description: 'A stable client identity (PROTOCOL.md R2.2.2); absent for an anonymous connection.' },
                token: { type: 'string', description: 'Credentials for browsers, which cannot set headers; the Authorization header wins when both are sent (R2.2.5).' },
              },
            },
            headers: {
              type: 'object',
              properties: {
                'Sec-WebSocket-Protocol': {
                  type: 'string',
                  description: `Offer "${SUBPROTOCOL}" (alone or among others), or no token at all; offering only other tokens is refused with 400 (R2.1.1-R2.1.4).`,
                  examples: [SUBPROTOCOL],
                },
                Authorization: { type: 'string', description: 'Bearer <token>, when the server verifies credentials (R2.2.5, R2.2.9).' },
              },
            },
            bindingVersion: '0.1.0',
          },
        },
      },
    },
    operations,
    components: {
      schemas: rebase(defs),
      messages,
      correlationIds: {
        requestId: {
          description: 'A request\'s "id": every reply to it echoes the id (R1.12); a delivery\'s "id" is echoed by the client\'s ack or nack.',
          location: '$message.payload#/id',
        },
      },
    },
  };
}

/** The document as the checked-in file holds it: 2-space indentation and a trailing newline. */
export function asyncApiText(): string {
  return `${JSON.stringify(buildAsyncApi(), null, 2)}\n`;
}

// Run as a script (dist/protocol/gen-asyncapi.js): write the file. Compiled to dist/protocol/, the source tree's protocol/ is two levels up.
const self = fileURLToPath(import.meta.url);
if (process.argv[1] !== undefined && resolve(process.argv[1]) === self) {
  const here = dirname(self);
  const root = here.endsWith(join('dist', 'protocol')) ? join(here, '..', '..') : join(here, '..');
  const out = join(root, 'protocol', 'wsq-v1.asyncapi.json');
  writeFileSync(out, asyncApiText());
  console.log(`wrote ${relative(process.cwd(), out) || out}`);
}
