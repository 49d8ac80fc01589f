/**
 * zod schemas for every wsq/1 frame, in both directions. These are the single source of
 * the wire types: every TypeScript type here comes from `z.infer`, and the JSON Schema in
 * `wsq-v1.schema.json` is generated from them (`npm run schema`).
 *
 * Objects are strict: an unknown field (a typo like "rom") is a `bad_frame`, never ignored.
 */
// Named imports (not the `z` namespace) let a bundler drop the parts of zod the frames do not use.
import { array, boolean, custom, discriminatedUnion, enum as zEnum, literal, number, strictObject, string, union, unknown } from 'zod';
import type { z } from 'zod';
import { ERROR_CODE_LIST, isReservedEvent } from './codes.js';
import { utf8Bytes } from './utf8.js';

// ---------------------------------------------------------------- names and limits (D3: defined once)

/**
 * The limits of wsq/1 (R1.6, R1.7, R1.12, R1.13): strings are measured in UTF-8 bytes, the same way on
 * the wire, in the codec and in every store. This table is the only place they are defined.
 */
export const LIMITS = {
  /** A room name; a dead-letter room `$dead:<room>` may be longer by its prefix (R1.7). */
  roomBytes: 256,
  /** A namespace name, its leading "/" included (R1.7). */
  namespaceBytes: 256,
  /** An event name (R1.7). */
  eventBytes: 256,
  /** A consumer group name (R1.12). */
  groupBytes: 128,
  /** An idempotency key (R1.12). */
  keyBytes: 128,
  /** An epoch (R1.12). */
  epochBytes: 64,
  /** A string request id (R1.12). */
  idBytes: 64,
  /** Levels of arrays and objects a `data` or `auth` value may nest (R1.13). */
  depth: 64,
} as const;

/**
 * The optional features of wsq/1 (R1.10) the reference server announces in `welcome.features`:
 * `args` (several arguments per emit and ack, R4.5.10) and `binary` (binary messages, §4.9).
 */
export const SERVER_FEATURES = ['args', 'binary'] as const;

/** The prefix of a room's dead-letter room (D4): the dead letters of room `R` are in `$dead:R`. */
export const DEAD_ROOM_PREFIX = '$dead:';

/** The dead-letter room of `room` (D4). */
export function deadLetterRoom(room: string): string {
  return DEAD_ROOM_PREFIX + room;
}

/** True when `room` is in the server's reserved space (it starts with "$", R4.5.8). */
export function isReservedRoom(room: string): boolean {
  return room.charCodeAt(0) === 0x24;
}

export { utf8Bytes } from './utf8.js';

/** True when `s` is a valid string request id (R1.12): at most 64 UTF-8 bytes. The codec's id echo uses the same measure. */
export function isRequestIdString(s: string): boolean {
  return s.length <= LIMITS.idBytes && utf8Bytes(s) <= LIMITS.idBytes;
}

const hex = (c: number): string => `U+${c.toString(16).toUpperCase().padStart(4, '0')}`;

/**
 * What is wrong with `s` as a name of 1..`maxBytes` UTF-8 bytes without control characters
 * (U+0000–U+001F, U+007F) or lone surrogates, as a phrase ("must …; got …"), or undefined (R1.7).
 */
export function stringProblem(s: string, maxBytes: number): string | undefined {
  if (s.length === 0) return `must be 1 to ${maxBytes} UTF-8 bytes; got an empty string`;
  // Every UTF-16 unit is at least one byte: a string longer than maxBytes units is too long without counting.
  if (s.length > maxBytes || utf8Bytes(s) > maxBytes) return `must be at most ${maxBytes} UTF-8 bytes; got ${utf8Bytes(s)} bytes`;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return `must not contain control characters (U+0000–U+001F, U+007F); got ${hex(c)} at index ${i}`;
    if (c >= 0xd800 && c <= 0xdfff) {
      if (c <= 0xdbff && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) i++;
      else return `must be well-formed Unicode; got a lone surrogate ${hex(c)} at index ${i}`;
    }
  }
  return undefined;
}

/** The kinds of names wsq/1 defines (R1.7). */
export type NameKind = 'namespace' | 'room' | 'event' | 'group' | 'key' | 'epoch';

/**
 * What is wrong with `value` as a name of this kind, as a phrase ("must …; got …"), or
 * undefined when it is valid (R1.7). Every path that takes a name — the codec, the stores,
 * the library — uses this one check. A room may be a dead-letter room (`$dead:<room>`); whether
 * a client may use a `$` room is decided by the frame (R4.5.8) and the server (D4).
 * @example
 * nameProblem('room', 'a'.repeat(300)); // 'must be at most 256 UTF-8 bytes; got more than 256 bytes'
 */
export function nameProblem(kind: NameKind, value: string): string | undefined {
  switch (kind) {
    case 'namespace':
      if (value.charCodeAt(0) !== 0x2f) return `must start with "/", e.g. "/chat"; got ${describeValue(value)}`;
      return stringProblem(value, LIMITS.namespaceBytes);
    case 'room':
      if (value.startsWith(DEAD_ROOM_PREFIX)) {
        const p = stringProblem(value.slice(DEAD_ROOM_PREFIX.length), LIMITS.roomBytes);
        return p && `(a dead-letter room "${DEAD_ROOM_PREFIX}<room>") ${p}`;
      }
      return stringProblem(value, LIMITS.roomBytes);
    case 'event':
      return stringProblem(value, LIMITS.eventBytes);
    case 'group':
      return stringProblem(value, LIMITS.groupBytes);
    case 'key':
      return stringProblem(value, LIMITS.keyBytes);
    case 'epoch':
      return stringProblem(value, LIMITS.epochBytes);
  }
}

/**
 * Throw a `RangeError` naming the problem when `value` is not a valid name of this kind (R1.7).
 * For stores and library calls that take names from code rather than from the wire.
 */
export function assertName(kind: NameKind, value: string): void {
  const p = typeof value === 'string' ? nameProblem(kind, value) : `must be a string; got ${describeValue(value)}`;
  if (p) throw new RangeError(`The ${kind} name ${p}.`);
}

/** A value as a short phrase for an error message: `the string "latest"`, `the number 1.5`, `an object`. */
export function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (typeof v === 'string') {
    if (v.length === 0) return 'an empty string';
    return v.length > 48 ? `a string of ${v.length} characters starting ${JSON.stringify(v.slice(0, 32))}` : `the string ${JSON.stringify(v)}`;
  }
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) return 'a number too large for a 64-bit float';
    return Number.isInteger(v) && !Number.isSafeInteger(v) ? `the number ${v}, beyond ±(2^53 − 1), the exact integers` : `the number ${v}`;
  }
  if (typeof v === 'boolean') return `the boolean ${v}`;
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

/**
 * What is wrong with a JSON value carried in a frame (`data`, `auth`), as a phrase, or
 * undefined (R1.13): it nests at most `LIMITS.depth` levels of arrays and objects, and holds no
 * number JSON cannot carry (JSON.parse turns 1e400 into Infinity, which JSON.stringify would
 * turn into null). Measured iteratively: no depth of input can overflow the stack here. The
 * codec applies it to every field of every client frame; the library's publish paths may
 * apply it to data from code.
 */
export function dataProblem(value: unknown, maxDepth: number = LIMITS.depth): string | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : NON_FINITE;
  if (typeof value !== 'object' || value === null) return undefined;
  const stack: object[] = [value];
  const depths: number[] = [1];
  while (stack.length > 0) {
    const o = stack.pop()!;
    const d = depths.pop()!;
    if (d > maxDepth) return `nests more than ${maxDepth} levels of arrays and objects; flatten it (at most ${maxDepth} levels)`;
    if (Array.isArray(o)) {
      for (let i = 0; i < o.length; i++) {
        const x: unknown = o[i];
        if (typeof x === 'object') {
          if (x !== null) stack.push(x), depths.push(d + 1);
        } else if (typeof x === 'number' && !Number.isFinite(x)) return NON_FINITE;
      }
    } else {
      for (const k in o) {
        const x: unknown = (o as Record<string, unknown>)[k];
        if (typeof x === 'object') {
          if (x !== null) stack.push(x), depths.push(d + 1);
        } else if (typeof x === 'number' && !Number.isFinite(x)) return NON_FINITE;
      }
    }
  }
  return undefined;
}
const NON_FINITE = 'holds a number too large for a 64-bit float (such as 1e400, which would become Infinity, and JSON cannot carry it); send it as a string';

/** A field's error: "is required: <what>" when it is missing, else "must be <what>; got <the value>" (R7.4). */
function expecting(what: string): { error: (iss: { input?: unknown }) => string } {
  return { error: (iss) => (iss.input === undefined ? `is required: ${what}` : `must be ${what}; got ${describeValue(iss.input)}`) };
}

/** A string field checked by one of the name rules. */
function named(kind: NameKind, extra?: (s: string) => string | undefined): z.ZodString {
  return string(expecting('a string')).superRefine((s, ctx) => {
    const p = nameProblem(kind, s) ?? extra?.(s);
    if (p) ctx.addIssue({ code: 'custom', message: p, input: s });
  });
}

const ID_WORDS = `an integer, or a string of at most ${LIMITS.idBytes} UTF-8 bytes`;
const idError = expecting(ID_WORDS);
/** A string request id: at most 64 UTF-8 bytes (R1.12). */
export const RequestIdString = string(idError).superRefine((s, ctx) => {
  if (!isRequestIdString(s)) ctx.addIssue({ code: 'custom', message: `must be ${ID_WORDS}; got a string of ${utf8Bytes(s)} bytes`, input: s });
});
/** A request id: an integer or a string of at most 64 UTF-8 bytes (R1.12). Replies echo it. */
export const RequestId = union([number(idError).int(idError), RequestIdString], idError);
/** A namespace name: starts with "/", e.g. "/" or "/chat"; at most 256 UTF-8 bytes (R1.7). */
export const Namespace = named('namespace');
/** A room name as a client may join or leave it: at most 256 UTF-8 bytes, or a dead-letter room `$dead:<room>` (R1.7, D4). */
export const RoomName = named('room');
/** A room a client may emit into: a room name not in the server's reserved `$` space (R4.5.8). */
export const EmitRoom = named('room', (s) =>
  isReservedRoom(s)
    ? `must not start with "$": rooms starting with "$" (such as dead-letter rooms "$dead:<room>") are written only by the server; got ${describeValue(s)}`
    : undefined,
);
/** An event name an application may use: at most 256 UTF-8 bytes, not reserved (R1.7, R4.5.1). */
export const EventName = named('event', (s) =>
  isReservedEvent(s)
    ? `must not be reserved for the server (names starting with "$", and connect, connect_error, disconnect, disconnecting, newListener, removeListener); got ${describeValue(s)}`
    : undefined,
);
/** A consumer group name: at most 128 UTF-8 bytes (R1.12). */
export const GroupName = named('group');
/** An idempotency key: at most 128 UTF-8 bytes (R1.12). */
export const IdempotencyKey = named('key');
/** An epoch as a client sends it back: at most 64 UTF-8 bytes (R1.12). */
export const Epoch = named('epoch');
const offsetError = expecting('a whole number ≥ 0');
/** A room log position: offsets start at 1; 0 means "before the first message". */
export const Offset = number(offsetError).int(offsetError).nonnegative(offsetError);
const sinceError = expecting('a whole number ≥ 0 or "earliest"');
/** Where a live join's replay starts (§5.3). */
export const Since = union([number(sinceError).int(sinceError).nonnegative(sinceError), literal('earliest', sinceError)], sinceError);
const flag = (): z.ZodBoolean => boolean(expecting('true or false'));
const whole = (min: number, max: number, what = 'a whole number'): z.ZodNumber => {
  const e = expecting(`${what} from ${min} to ${max}`);
  return number(e).int(e).min(min, e).max(max, e);
};
/** A plain JSON object (`auth`): kept as parsed, so a key such as "__proto__" stays an own key. */
export const JsonObject = custom<Record<string, unknown>>((v) => typeof v === 'object' && v !== null && !Array.isArray(v), expecting('an object'));
const Json = unknown();
/** The arguments of an emit or an ack when there are not exactly one (R4.5.10): each any JSON value. One value goes in `data`. */
export const Args = array(Json, expecting('an array of the arguments (any JSON values)'));
const binPathError = expecting('a path: an array that starts with "data" or "args" and goes on with object keys and array indexes');
/** Where each attachment of a binary message goes (R4.9.3): one path per attachment, in order. */
export const BinPaths = array(array(union([string(), number().int().nonnegative()], binPathError), binPathError).min(1, binPathError), binPathError)
  .min(1, binPathError)
  .max(1000, binPathError);
/** R4.5.10: one value goes as `data`, any other count as `args`; never both. */
const ARGS_RULE: CrossFieldRule<{ data?: unknown; args?: unknown[] }> = {
  req: 'R4.5.10',
  broken: (f) => f.data !== undefined && f.args !== undefined,
  message: 'use either "data" (one value) or "args" (any other number of values), not both',
  json: { not: { required: ['data', 'args'] } },
};

/**
 * A rule across fields of one frame, in one home: the zod check that enforces it and the
 * same rule as JSON Schema (draft 2020-12), which protocol/schema.ts puts into the published
 * document (R4.3.5, R4.3.7, R4.5.2, R5.7.5).
 */
export interface CrossFieldRule<F> {
  /** The requirement (PROTOCOL.md) it states. */
  readonly req: string;
  /** True when the frame breaks the rule. */
  readonly broken: (f: F) => boolean;
  /** The sentence (without the leading "<type>: ") a client gets. */
  readonly message: string;
  /** The same rule as a JSON Schema every valid frame matches. */
  readonly json: Record<string, unknown>;
}

/** Apply a frame's cross-field rules as one zod refinement. */
function crossField<F>(rules: readonly CrossFieldRule<F>[]): (f: F, ctx: z.RefinementCtx) => void {
  return (f, ctx) => {
    for (const r of rules) if (r.broken(f)) ctx.addIssue({ code: 'custom', message: r.message, path: [], params: { req: r.req } });
  };
}

const durableTrue = { required: ['durable'], properties: { durable: { const: true } } };

/** The cross-field rules of `join`. */
export const JOIN_RULES: readonly CrossFieldRule<{ durable?: boolean; group?: string; epoch?: string }>[] = [
  {
    req: 'R4.3.5',
    broken: (f) => f.durable === true && f.group !== undefined,
    message: 'use either "durable" or "group", not both (a group already keeps its progress on the server)',
    json: { not: { required: ['durable', 'group'], properties: { durable: { const: true } } } },
  },
  {
    req: 'R4.3.7',
    broken: (f) => (f.durable === true || f.group !== undefined) && f.epoch !== undefined,
    message: '"epoch" goes with a live join\'s "since"; durable and group subscriptions keep their position on the server, so drop "epoch"',
    json: { not: { required: ['epoch'], anyOf: [durableTrue, { required: ['group'] }] } },
  },
];

/** The cross-field rules of `emit`. */
export const EMIT_RULES: readonly CrossFieldRule<{ room?: string; volatile?: boolean; echo?: boolean; key?: string; data?: unknown; args?: unknown[] }>[] = [
  ARGS_RULE,
  {
    req: 'R4.5.2',
    broken: (f) => f.room === undefined && (f.volatile === true || f.echo === true || f.key !== undefined),
    message: '"volatile", "echo" and "key" apply to room emits; add "room", or drop them',
    // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then keywords, not a thenable
    json: { if: { not: { required: ['room'] } }, then: { properties: { volatile: { const: false }, echo: { const: false } }, not: { required: ['key'] } } },
  },
  {
    req: 'R5.7.5',
    broken: (f) => f.volatile === true && f.key !== undefined,
    message: '"key" makes sense only for stored emits; a volatile emit is never stored, so drop "key" or "volatile"',
    json: { not: { required: ['key', 'volatile'], properties: { volatile: { const: true } } } },
  },
];

// ---------------------------------------------------------------- client → server

export const ConnectFrame = strictObject({
  type: literal('connect'),
  ns: Namespace,
  auth: JsonObject.optional(),
  id: RequestId.optional(),
});
export const DisconnectFrame = strictObject({
  type: literal('disconnect'),
  ns: Namespace,
  id: RequestId.optional(),
});
export const JoinFrame = strictObject({
  type: literal('join'),
  room: RoomName,
  ns: Namespace.optional(),
  since: Since.optional(),
  epoch: Epoch.optional(),
  durable: flag().optional(),
  group: GroupName.optional(),
  prefetch: whole(1, 10_000).optional(),
  presence: flag().optional(),
  id: RequestId.optional(),
}).superRefine(crossField(JOIN_RULES));
export const LeaveFrame = strictObject({
  type: literal('leave'),
  room: RoomName,
  ns: Namespace.optional(),
  id: RequestId.optional(),
});
export const EmitFrame = strictObject({
  type: literal('emit'),
  event: EventName,
  data: Json.optional(),
  /** Feature `args` (R4.5.10): the arguments when there are not exactly one. */
  args: Args.optional(),
  /** Feature `binary` (R4.9.3): where the attachments of a binary message go. */
  bin: BinPaths.optional(),
  room: EmitRoom.optional(),
  ns: Namespace.optional(),
  volatile: flag().optional(),
  echo: flag().optional(),
  key: IdempotencyKey.optional(),
  id: RequestId.optional(),
}).superRefine(crossField(EMIT_RULES));
/** The cross-field rules of a client's `ack`. */
export const ACK_RULES: readonly CrossFieldRule<{ data?: unknown; args?: unknown[] }>[] = [ARGS_RULE];
export const AckFrame = strictObject({
  type: literal('ack'),
  id: RequestId,
  data: Json.optional(),
  /** Feature `args` (R4.6.4): the answers when there are not exactly one. */
  args: Args.optional(),
  /** Feature `binary` (R4.9.3). */
  bin: BinPaths.optional(),
}).superRefine(crossField(ACK_RULES));
export const NackFrame = strictObject({
  type: literal('nack'),
  id: RequestId,
  requeue: flag().optional(),
  delayMs: whole(0, 3_600_000, 'a whole number of milliseconds').optional(),
});
export const PingFrame = strictObject({
  type: literal('ping'),
  id: RequestId.optional(),
});

/** Client frame schemas by `type`; the codec picks one by the frame's `type`. */
export const CLIENT_FRAMES = {
  connect: ConnectFrame,
  disconnect: DisconnectFrame,
  join: JoinFrame,
  leave: LeaveFrame,
  emit: EmitFrame,
  ack: AckFrame,
  nack: NackFrame,
  ping: PingFrame,
} as const;
export const ClientFrame = discriminatedUnion('type', [ConnectFrame, DisconnectFrame, JoinFrame, LeaveFrame, EmitFrame, AckFrame, NackFrame, PingFrame]);

export type ConnectFrame = z.infer<typeof ConnectFrame>;
export type DisconnectFrame = z.infer<typeof DisconnectFrame>;
export type JoinFrame = z.infer<typeof JoinFrame>;
export type LeaveFrame = z.infer<typeof LeaveFrame>;
export type EmitFrame = z.infer<typeof EmitFrame>;
export type AckFrame = z.infer<typeof AckFrame>;
export type NackFrame = z.infer<typeof NackFrame>;
export type PingFrame = z.infer<typeof PingFrame>;
export type ClientFrame = z.infer<typeof ClientFrame>;
export type ClientFrameType = ClientFrame['type'];

// ---------------------------------------------------------------- server → client

export const WelcomeFrame = strictObject({
  type: literal('welcome'),
  sid: string(),
  client: string().optional(),
  protocol: literal(1),
  heartbeatMs: number().int(),
  maxPayload: number().int(),
  server: strictObject({ name: string(), version: string() }),
  /** The server's limits a client needs (R6.1.3): the object and each field optional, so a 1.x client of an older server still validates. */
  limits: strictObject({
    timeoutMs: number().int().nonnegative().optional(),
    ackTimeoutMs: number().int().positive().optional(),
    maxDeliver: number().int().positive().optional(),
    prefetch: number().int().positive().optional(),
    badFrameLimit: number().int().nonnegative().optional(),
    badFrameWindowMs: number().int().positive().optional(),
    dedupWindowMs: number().int().nonnegative().optional(),
    maxRooms: number().int().positive().optional(),
  }).optional(),
  /** The optional features this server supports (R1.10, R6.1.4); absent means none. */
  features: array(string()).optional(),
  /** Connection state recovery (R2.7.1): this connection's private session id, to reconnect with `?recover=`. */
  pid: string().optional(),
  /** Connection state recovery (R2.7.5): present with `pid`; true when this connection recovered a session. */
  recovered: boolean().optional(),
});
export const ConnectedFrame = strictObject({
  type: literal('connected'),
  ns: Namespace,
  id: RequestId.optional(),
  /** Connection state recovery (R2.7.5): true when the namespace's saved state came back with this connect. */
  recovered: literal(true).optional(),
});
export const DisconnectedFrame = strictObject({
  type: literal('disconnected'),
  ns: Namespace,
  id: RequestId.optional(),
});
/** Where a replay started and ended, and how many messages it held. */
export const ReplayRange = strictObject({ from: Offset, to: Offset, count: number().int().nonnegative() });
/** What a client asked for and what the log still holds, when recovery was not complete. */
export const GapReport = strictObject({
  requested: union([Offset, literal('earliest')]),
  earliest: Offset,
  latest: Offset,
});
export const JoinedFrame = strictObject({
  type: literal('joined'),
  ns: Namespace,
  room: RoomName,
  id: RequestId.optional(),
  epoch: string(),
  offset: Offset,
  replay: ReplayRange.optional(),
  recovered: boolean(),
  gap: GapReport.optional(),
  durable: boolean().optional(),
  group: string().optional(),
  /** With `presence: true`: the room's other subscribers when the join took effect (R6.3.2). */
  members: array(strictObject({ sid: string(), client: string().optional() })).optional(),
  /** `members` lists only the first of them (R6.3.2). */
  membersTruncated: literal(true).optional(),
});
export const LeftFrame = strictObject({
  type: literal('left'),
  ns: Namespace,
  room: RoomName,
  id: RequestId.optional(),
  /** "server": the application ended the subscription (R6.4.1); absent on the answer to the client's own `leave`. */
  reason: literal('server').optional(),
});
export const EventFrame = strictObject({
  type: literal('event'),
  ns: Namespace,
  event: string(),
  data: Json,
  /** Feature `args` (R6.5.4): every argument when there are not exactly one (`data` is then the first, or null). */
  args: Args.optional(),
  /** Feature `binary` (R4.9.3): where the attachments of a binary message go. */
  bin: BinPaths.optional(),
  room: RoomName.optional(),
  offset: Offset.optional(),
  epoch: string().optional(),
  from: string().optional(),
  ts: number(),
  id: RequestId.optional(),
  replay: literal(true).optional(),
  attempt: number().int().positive().optional(),
});
export const ServerAckFrame = strictObject({
  type: literal('ack'),
  id: RequestId,
  offset: Offset.optional(),
  epoch: string().optional(),
  duplicate: literal(true).optional(),
  data: Json.optional(),
  /** Feature `args` (R6.6.2): the handler's answers when there are two or more. */
  args: Args.optional(),
  /** Feature `binary` (R4.9.3). */
  bin: BinPaths.optional(),
});
export const ErrorFrame = strictObject({
  type: literal('error'),
  code: zEnum(ERROR_CODE_LIST),
  message: string(),
  id: RequestId.optional(),
  details: Json.optional(),
});
export const PresenceFrame = strictObject({
  type: literal('presence'),
  ns: Namespace,
  room: RoomName,
  action: zEnum(['join', 'leave']),
  sid: string(),
  client: string().optional(),
});
export const PongFrame = strictObject({
  type: literal('pong'),
  id: RequestId.optional(),
});

export const ServerFrame = discriminatedUnion('type', [
  WelcomeFrame,
  ConnectedFrame,
  DisconnectedFrame,
  JoinedFrame,
  LeftFrame,
  EventFrame,
  ServerAckFrame,
  ErrorFrame,
  PresenceFrame,
  PongFrame,
]);

export type WelcomeFrame = z.infer<typeof WelcomeFrame>;
export type ConnectedFrame = z.infer<typeof ConnectedFrame>;
export type DisconnectedFrame = z.infer<typeof DisconnectedFrame>;
export type ReplayRange = z.infer<typeof ReplayRange>;
export type GapReport = z.infer<typeof GapReport>;
export type JoinedFrame = z.infer<typeof JoinedFrame>;
export type LeftFrame = z.infer<typeof LeftFrame>;
export type EventFrame = z.infer<typeof EventFrame>;
export type ServerAckFrame = z.infer<typeof ServerAckFrame>;
export type ErrorFrame = z.infer<typeof ErrorFrame>;
export type PresenceFrame = z.infer<typeof PresenceFrame>;
export type PongFrame = z.infer<typeof PongFrame>;
export type ServerFrame = z.infer<typeof ServerFrame>;
export type RequestId = z.infer<typeof RequestId>;
