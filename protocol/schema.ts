/**
 * The JSON Schema of wsq/1, generated from the zod schemas in `frames.ts` (the single source
 * of the wire types). `npm run schema` writes it to `protocol/wsq-v1.schema.json`; a unit test
 * fails when that file is stale.
 *
 * The document validates one frame in either direction: its root is `anyOf` ClientFrame /
 * ServerFrame (not `oneOf`: a client `ack` such as `{"type":"ack","id":1}` is also a valid
 * server `ack`), and every frame and shared type is a named entry of `$defs`.
 */
import { z } from 'zod';
import { RESERVED_EVENT_NAMES, SUBPROTOCOL } from './codes.js';
import {
  ACK_RULES,
  AckFrame,
  EMIT_RULES,
  EmitRoom,
  Epoch,
  GroupName,
  IdempotencyKey,
  JOIN_RULES,
  JsonObject,
  LIMITS,
  RequestIdString,
  Since,
  ClientFrame,
  ConnectedFrame,
  ConnectFrame,
  DisconnectedFrame,
  DisconnectFrame,
  EmitFrame,
  ErrorFrame,
  EventFrame,
  EventName,
  GapReport,
  JoinedFrame,
  JoinFrame,
  LeaveFrame,
  LeftFrame,
  NackFrame,
  Namespace,
  Offset,
  PingFrame,
  PongFrame,
  PresenceFrame,
  ReplayRange,
  RequestId,
  RoomName,
  ServerAckFrame,
  ServerFrame,
  WelcomeFrame,
  DEAD_ROOM_PREFIX,
} from './frames.js';

/** The `$id` of the generated document. */
export const SCHEMA_ID = 'https://wsq.dev/schema/wsq-v1.schema.json';

/** Name (the `$defs` key) and description of every schema that gets its own definition. */
const DEFS: [z.ZodType, string, string][] = [
  [RequestId, 'RequestId', `A request id: an integer, or a string of at most ${LIMITS.idBytes} UTF-8 bytes. Every reply to a request echoes it (PROTOCOL.md R1.12).`],
  [
    Namespace,
    'Namespace',
    `A namespace name; it starts with "/", e.g. "/" or "/chat"; 1-${LIMITS.namespaceBytes} UTF-8 bytes, no control characters (PROTOCOL.md R1.7). maxLength bounds characters, a weaker bound: the limit is in bytes.`,
  ],
  [
    RoomName,
    'RoomName',
    `A room name: 1-${LIMITS.roomBytes} UTF-8 bytes, no control characters, well-formed Unicode; a dead-letter room "$dead:<room>" may be longer by its prefix (PROTOCOL.md R1.7). maxLength bounds characters, a weaker bound: the limit is in bytes.`,
  ],
  [EmitRoom, 'EmitRoom', 'A room a client may emit into: a RoomName that does not start with "$" (the server\'s reserved space, PROTOCOL.md R4.5.8).'],
  [
    EventName,
    'EventName',
    `An application event name, 1-${LIMITS.eventBytes} UTF-8 bytes, no control characters. Names starting with "$" and the library lifecycle names are reserved (PROTOCOL.md R1.7, §4.5).`,
  ],
  [GroupName, 'GroupName', `A consumer group name: 1-${LIMITS.groupBytes} UTF-8 bytes, no control characters (PROTOCOL.md R1.12).`],
  [IdempotencyKey, 'IdempotencyKey', `An idempotency key: 1-${LIMITS.keyBytes} UTF-8 bytes, no control characters (PROTOCOL.md R1.12).`],
  [Epoch, 'Epoch', `An epoch as a client sends it back: 1-${LIMITS.epochBytes} UTF-8 bytes, no control characters (PROTOCOL.md R1.7).`],
  [Since, 'Since', 'Where a live join\'s replay starts: an offset, or "earliest" (PROTOCOL.md §5.3).'],
  [Offset, 'Offset', 'A position in a room log. Offsets start at 1; 0 means "before the first message" (PROTOCOL.md §5.2).'],
  [ReplayRange, 'ReplayRange', 'The offsets a join replays: from..to, count = to - from + 1 (PROTOCOL.md §5.3).'],
  [GapReport, 'GapReport', 'What a join asked for and what the log still holds, when recovery was not complete (PROTOCOL.md §5.3).'],
  [ClientFrame, 'ClientFrame', 'Any frame a client sends, chosen by "type" (PROTOCOL.md §4).'],
  [ConnectFrame, 'ConnectFrame', 'Client to server: enter a namespace. Reply: connected or error (PROTOCOL.md §4.1).'],
  [DisconnectFrame, 'DisconnectFrame', 'Client to server: leave a namespace and all its rooms. Reply: disconnected (PROTOCOL.md §4.2).'],
  [
    JoinFrame,
    'JoinFrame',
    'Client to server: subscribe to a room (live with optional replay, durable, or in a consumer group). Reply: joined, then replayed and live events (PROTOCOL.md §4.3).',
  ],
  [LeaveFrame, 'LeaveFrame', 'Client to server: end the subscription to a room. Reply: left or error not_member (PROTOCOL.md §4.4).'],
  [EmitFrame, 'EmitFrame', 'Client to server: send an event to a room or to the server\'s handlers. With "id": answered by ack or error (PROTOCOL.md §4.5).'],
  [AckFrame, 'ClientAckFrame', 'Client to server: acknowledge a delivery or answer a request the server sent with "id". No reply (PROTOCOL.md §4.6).'],
  [NackFrame, 'NackFrame', 'Client to server: refuse a delivery; it is redelivered (after delayMs) or, with requeue false, dead-lettered. No reply (PROTOCOL.md §4.7).'],
  [PingFrame, 'PingFrame', 'Client to server: application-level ping. Reply: pong (PROTOCOL.md §4.8).'],
  [ServerFrame, 'ServerFrame', 'Any frame a server sends, chosen by "type" (PROTOCOL.md §6).'],
  [WelcomeFrame, 'WelcomeFrame', 'Server to client: the first frame of every connection (PROTOCOL.md §6.1).'],
  [ConnectedFrame, 'ConnectedFrame', 'Server to client: the connection is in the namespace (PROTOCOL.md §6.2).'],
  [DisconnectedFrame, 'DisconnectedFrame', 'Server to client: the connection left the namespace (PROTOCOL.md §6.2).'],
  [JoinedFrame, 'JoinedFrame', 'Server to client: a join took effect; says where the log stands and what is replayed (PROTOCOL.md §6.3).'],
  [LeftFrame, 'LeftFrame', 'Server to client: a leave took effect (PROTOCOL.md §6.4).'],
  [EventFrame, 'EventFrame', 'Server to client: one event (live, replayed, or a delivery to ack when "id" is present) (PROTOCOL.md §6.5).'],
  [ServerAckFrame, 'ServerAckFrame', 'Server to client: the answer to a request that carried "id" (PROTOCOL.md §6.6).'],
  [ErrorFrame, 'ErrorFrame', 'Server to client: what was wrong and how to fix it (PROTOCOL.md §6.7, codes in §7).'],
  [PresenceFrame, 'PresenceFrame', 'Server to client: another connection joined or left a room watched with presence (PROTOCOL.md §6.8).'],
  [PongFrame, 'PongFrame', 'Server to client: the answer to ping (PROTOCOL.md §6.9).'],
];

/** No control characters (U+0000–U+001F, U+007F): the name rule of R1.7 as a pattern. */
const TEXT = '[^\\u0000-\\u001f\\u007f]';
/** A string of 1..max characters without control characters. Characters bound bytes from below, so maxLength is implied by the byte limit. */
const name = (max: number, first = TEXT): Record<string, unknown> => ({ minLength: 1, maxLength: max, pattern: `^${first}${TEXT}*$` });

/**
 * What JSON Schema can say of the rules that zod states as refinements (which
 * `z.toJSONSchema` drops): the name rules (R1.7, as a necessary pattern and length), the
 * reserved event names and rooms, and each frame's cross-field rules from `JOIN_RULES` and
 * `EMIT_RULES` (the same objects the zod refinements run).
 */
const EXTRA = new Map<z.ZodType, Record<string, unknown>>([
  [Namespace, name(LIMITS.namespaceBytes, '/')],
  [RoomName, { anyOf: [name(LIMITS.roomBytes), { ...name(LIMITS.roomBytes + DEAD_ROOM_PREFIX.length), pattern: `^\\$dead:${TEXT}+$` }] }],
  [EmitRoom, { ...name(LIMITS.roomBytes, '[^$\\u0000-\\u001f\\u007f]') }],
  [EventName, { ...name(LIMITS.eventBytes), not: { anyOf: [{ pattern: '^\\$' }, { enum: [...RESERVED_EVENT_NAMES] }] } }],
  [GroupName, name(LIMITS.groupBytes)],
  [IdempotencyKey, name(LIMITS.keyBytes)],
  [Epoch, name(LIMITS.epochBytes)],
  [JsonObject, { type: 'object' }],
  [RequestIdString, { maxLength: LIMITS.idBytes }],
  [JoinFrame, { allOf: JOIN_RULES.map((r) => r.json) }],
  [EmitFrame, { allOf: EMIT_RULES.map((r) => r.json) }],
  [AckFrame, { allOf: ACK_RULES.map((r) => r.json) }], // R4.5.10: data or args, not both
]);

/**
 * Build the JSON Schema (draft 2020-12) of every wsq/1 frame.
 * The result is plain JSON data, the same on every call.
 * @example
 * import { buildJsonSchema } from 'wsq/protocol/schema';
 * writeFileSync('wsq-v1.schema.json', JSON.stringify(buildJsonSchema(), null, 2) + '\n');
 */
export function buildJsonSchema(): Record<string, unknown> {
  const registry = z.registry<{ id: string; description: string }>();
  for (const [schema, id, description] of DEFS) registry.add(schema, { id, description });
  const generated = z.toJSONSchema(z.union([ClientFrame, ServerFrame]), {
    target: 'draft-2020-12',
    metadata: registry,
    // EventName's reserved-name check is a zod refinement, which JSON Schema cannot carry by
    // itself; anything else a future schema adds that has no JSON Schema form becomes `{}`.
    unrepresentable: 'any',
    override: (ctx) => {
      const extra = EXTRA.get(ctx.zodSchema as unknown as z.ZodType);
      if (extra) Object.assign(ctx.jsonSchema, extra);
    },
  }) as Record<string, unknown>;
  const { $schema, $defs, ...root } = generated;
  return {
    $schema,
    $id: SCHEMA_ID,
    title: 'wsq/1 frames',
    description:
      `Every frame of the wsq/1 protocol (WebSocket sub-protocol "${SUBPROTOCOL}"): one JSON object per text frame, ` +
      'either a client frame (client to server) or a server frame (server to client). Objects are closed: an unknown ' +
      'field is an error. Normative text: protocol/PROTOCOL.md. Generated from protocol/frames.ts by `npm run schema`; do not edit.',
    ...root,
    $defs,
  };
}

/** The document as the checked-in file holds it: 2-space indentation and a trailing newline. */
export function jsonSchemaText(): string {
  return `${JSON.stringify(buildJsonSchema(), null, 2)}\n`;
}
