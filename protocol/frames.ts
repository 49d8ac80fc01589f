/**
 * zod schemas for every wsq/1 frame, in both directions. These are the single source of
 * the wire types: every TypeScript type here comes from `z.infer`, and the JSON Schema in
 * `wsq-v1.schema.json` is generated from them (`npm run schema`).
 *
 * Objects are strict: an unknown field (a typo like "rom") is a `bad_frame`, never ignored.
 */
// Named imports (not the `z` namespace) let a bundler drop the parts of zod the frames do not use.
import { boolean, discriminatedUnion, enum as zEnum, literal, number, record, strictObject, string, union, unknown } from 'zod';
import type { z } from 'zod';
import { ERROR_CODE_LIST, isReservedEvent } from './codes.js';

/** A request id: an integer or a string of at most 64 characters. Replies echo it. */
export const RequestId = union([number().int(), string().max(64)]);
/** A namespace name: starts with "/", e.g. "/" or "/chat". */
export const Namespace = string().min(1).max(256).regex(/^\//, 'a namespace starts with "/", e.g. "/chat"');
/** A room name. */
export const RoomName = string().min(1).max(256);
/** An event name an application may use (not reserved). */
export const EventName = string()
  .min(1)
  .max(256)
  .refine((n) => !isReservedEvent(n), {
    message: 'this event name is reserved for the server (names starting with "$", and connect, connect_error, disconnect, disconnecting, newListener, removeListener)',
  });
/** A room log position: offsets start at 1; 0 means "before the first message". */
export const Offset = number().int().nonnegative();
const Json = unknown();

// ---------------------------------------------------------------- client → server

export const ConnectFrame = strictObject({
  type: literal('connect'),
  ns: Namespace,
  auth: record(string(), Json).optional(),
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
  since: union([Offset, literal('earliest')]).optional(),
  epoch: string().min(1).max(64).optional(),
  durable: boolean().optional(),
  group: string().min(1).max(128).optional(),
  prefetch: number().int().min(1).max(10_000).optional(),
  presence: boolean().optional(),
  id: RequestId.optional(),
});
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
  room: RoomName.optional(),
  ns: Namespace.optional(),
  volatile: boolean().optional(),
  echo: boolean().optional(),
  key: string().min(1).max(128).optional(),
  id: RequestId.optional(),
});
export const AckFrame = strictObject({
  type: literal('ack'),
  id: RequestId,
  data: Json.optional(),
});
export const NackFrame = strictObject({
  type: literal('nack'),
  id: RequestId,
  requeue: boolean().optional(),
  delayMs: number().int().min(0).max(3_600_000).optional(),
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
export const ClientFrame = discriminatedUnion('type', [
  ConnectFrame, DisconnectFrame, JoinFrame, LeaveFrame, EmitFrame, AckFrame, NackFrame, PingFrame,
]);

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
});
export const ConnectedFrame = strictObject({
  type: literal('connected'),
  ns: Namespace,
  id: RequestId.optional(),
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
  WelcomeFrame, ConnectedFrame, DisconnectedFrame, JoinedFrame, LeftFrame, EventFrame,
  ServerAckFrame, ErrorFrame, PresenceFrame, PongFrame,
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
