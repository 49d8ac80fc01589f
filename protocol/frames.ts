/**
 * zod schemas for every wsq/1 frame, in both directions. These are the single source of
 * the wire types: every TypeScript type here comes from `z.infer`, and the JSON Schema in
 * `wsq-v1.schema.json` is generated from them (`npm run schema`).
 *
 * Objects are strict: an unknown field (a typo like "rom") is a `bad_frame`, never ignored.
 */
import { z } from 'zod';
import { ERROR_CODE_LIST, isReservedEvent } from './codes.js';

/** A request id: an integer or a string of at most 64 characters. Replies echo it. */
export const RequestId = z.union([z.number().int(), z.string().max(64)]);
/** A namespace name: starts with "/", e.g. "/" or "/chat". */
export const Namespace = z.string().min(1).max(256).regex(/^\//, 'a namespace starts with "/", e.g. "/chat"');
/** A room name. */
export const RoomName = z.string().min(1).max(256);
/** An event name an application may use (not reserved). */
export const EventName = z
  .string()
  .min(1)
  .max(256)
  .refine((n) => !isReservedEvent(n), {
    message: 'this event name is reserved for the server (names starting with "$", and connect, connect_error, disconnect, disconnecting, newListener, removeListener)',
  });
/** A room log position: offsets start at 1; 0 means "before the first message". */
export const Offset = z.number().int().nonnegative();
const Json = z.unknown();

// ---------------------------------------------------------------- client → server

export const ConnectFrame = z.strictObject({
  type: z.literal('connect'),
  ns: Namespace,
  auth: z.record(z.string(), Json).optional(),
  id: RequestId.optional(),
});
export const DisconnectFrame = z.strictObject({
  type: z.literal('disconnect'),
  ns: Namespace,
  id: RequestId.optional(),
});
export const JoinFrame = z.strictObject({
  type: z.literal('join'),
  room: RoomName,
  ns: Namespace.optional(),
  since: z.union([Offset, z.literal('earliest')]).optional(),
  epoch: z.string().min(1).max(64).optional(),
  durable: z.boolean().optional(),
  group: z.string().min(1).max(128).optional(),
  prefetch: z.number().int().min(1).max(10_000).optional(),
  presence: z.boolean().optional(),
  id: RequestId.optional(),
});
export const LeaveFrame = z.strictObject({
  type: z.literal('leave'),
  room: RoomName,
  ns: Namespace.optional(),
  id: RequestId.optional(),
});
export const EmitFrame = z.strictObject({
  type: z.literal('emit'),
  event: EventName,
  data: Json.optional(),
  room: RoomName.optional(),
  ns: Namespace.optional(),
  volatile: z.boolean().optional(),
  echo: z.boolean().optional(),
  key: z.string().min(1).max(128).optional(),
  id: RequestId.optional(),
});
export const AckFrame = z.strictObject({
  type: z.literal('ack'),
  id: RequestId,
  data: Json.optional(),
});
export const NackFrame = z.strictObject({
  type: z.literal('nack'),
  id: RequestId,
  requeue: z.boolean().optional(),
  delayMs: z.number().int().min(0).max(3_600_000).optional(),
});
export const PingFrame = z.strictObject({
  type: z.literal('ping'),
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
export const ClientFrame = z.discriminatedUnion('type', [
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

export const WelcomeFrame = z.strictObject({
  type: z.literal('welcome'),
  sid: z.string(),
  client: z.string().optional(),
  protocol: z.literal(1),
  heartbeatMs: z.number().int(),
  maxPayload: z.number().int(),
  server: z.strictObject({ name: z.string(), version: z.string() }),
});
export const ConnectedFrame = z.strictObject({
  type: z.literal('connected'),
  ns: Namespace,
  id: RequestId.optional(),
});
export const DisconnectedFrame = z.strictObject({
  type: z.literal('disconnected'),
  ns: Namespace,
  id: RequestId.optional(),
});
/** Where a replay started and ended, and how many messages it held. */
export const ReplayRange = z.strictObject({ from: Offset, to: Offset, count: z.number().int().nonnegative() });
/** What a client asked for and what the log still holds, when recovery was not complete. */
export const GapReport = z.strictObject({
  requested: z.union([Offset, z.literal('earliest')]),
  earliest: Offset,
  latest: Offset,
});
export const JoinedFrame = z.strictObject({
  type: z.literal('joined'),
  ns: Namespace,
  room: RoomName,
  id: RequestId.optional(),
  epoch: z.string(),
  offset: Offset,
  replay: ReplayRange.optional(),
  recovered: z.boolean(),
  gap: GapReport.optional(),
  durable: z.boolean().optional(),
  group: z.string().optional(),
});
export const LeftFrame = z.strictObject({
  type: z.literal('left'),
  ns: Namespace,
  room: RoomName,
  id: RequestId.optional(),
});
export const EventFrame = z.strictObject({
  type: z.literal('event'),
  ns: Namespace,
  event: z.string(),
  data: Json,
  room: RoomName.optional(),
  offset: Offset.optional(),
  epoch: z.string().optional(),
  from: z.string().optional(),
  ts: z.number(),
  id: RequestId.optional(),
  replay: z.literal(true).optional(),
  attempt: z.number().int().positive().optional(),
});
export const ServerAckFrame = z.strictObject({
  type: z.literal('ack'),
  id: RequestId,
  offset: Offset.optional(),
  epoch: z.string().optional(),
  duplicate: z.literal(true).optional(),
  data: Json.optional(),
});
export const ErrorFrame = z.strictObject({
  type: z.literal('error'),
  code: z.enum(ERROR_CODE_LIST),
  message: z.string(),
  id: RequestId.optional(),
  details: Json.optional(),
});
export const PresenceFrame = z.strictObject({
  type: z.literal('presence'),
  ns: Namespace,
  room: RoomName,
  action: z.enum(['join', 'leave']),
  sid: z.string(),
  client: z.string().optional(),
});
export const PongFrame = z.strictObject({
  type: z.literal('pong'),
  id: RequestId.optional(),
});

export const ServerFrame = z.discriminatedUnion('type', [
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
