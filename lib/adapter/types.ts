/**
 * The Adapter: the only owner of room membership of one namespace and of live (not stored)
 * delivery to its sockets — on this node, and, for an adapter that spans nodes (Redis), on
 * every node. The memory adapter serves one node; a cluster adapter fills the same interface.
 *
 * Two halves:
 * - **Local, synchronous**: `addAll`/`del`/`delAll`/`socketRooms`/`roomMembers`/`sockets` act on this
 *   node's sockets only (the socket's own `join`/`leave`, the namespace's add/remove, the room
 *   log's replay seam). `broadcast` delivers to local members synchronously and forwards to the
 *   other nodes unless `flags.local`.
 * - **Cluster-wide, asynchronous** (shapes after Socket.IO's `ClusterAdapter`): `fetchSockets`,
 *   `addSockets`, `delSockets`, `disconnectSockets`, `broadcastWithAck`, `serverSideEmit`,
 *   `serverSideEmitWithAck`, `serverCount`. Each applies to local sockets first (synchronously,
 *   before it returns, so `socketsJoin` then `to(room).emit` sees the join, as in Socket.IO), then
 *   asks every other node and, when it waits for answers, waits at most `timeoutMs`.
 *
 * Options select sockets the same way everywhere: `rooms` (empty = the whole namespace), minus
 * `except` (rooms; a sid is a room), resolved by each node against its own membership.
 *
 * contract: role C (lib/adapter/redis.ts) implements this interface; test/contract/adapter-contract.ts
 * is the executable form of every contract below.
 */
import type { EventEmitter } from 'node:events';

/**
 * An encoded server frame (wsq/1 JSON text) as the namespace built it: encoded once per
 * broadcast, the same text for every node and recipient. A cluster adapter ships it as is.
 */
export type EncodedFrame = string;

/** Which sockets an operation reaches. */
export interface BroadcastOptions {
  /** Rooms to reach; empty means the whole namespace. A socket in several of them gets the frame once. */
  rooms: ReadonlySet<string>;
  /** Rooms (a sid is a room) whose sockets are skipped. */
  except: ReadonlySet<string>;
  flags: BroadcastFlags;
}

/** Flags of an operation. Every field is plain JSON (a cluster adapter sends them to other nodes). */
export interface BroadcastFlags {
  /** May be dropped for a slow reader (and is never stored). */
  volatile?: boolean;
  /** This node only: the operation is not forwarded to other nodes. */
  local?: boolean;
  /** false: never compress this frame, even when permessage-deflate is on. */
  compress?: boolean;
  /** How long a waiting operation (`fetchSockets`, `broadcastWithAck`, …) waits for answers; default DEFAULT_TIMEOUT_MS. */
  timeoutMs?: number;
}

/** Default wait of every cluster-wide operation that waits for answers. */
export const DEFAULT_TIMEOUT_MS = 5000;

/** Socket selection of the asynchronous operations (flags: only `local` and `timeoutMs` apply). */
export type SocketSelector = Pick<BroadcastOptions, 'rooms' | 'except'> & { flags?: Pick<BroadcastFlags, 'local' | 'timeoutMs'> };

/**
 * A socket as another node sees it (what `fetchSockets` returns): plain JSON, no methods.
 * The broadcast operator wraps the ones of other nodes in a `RemoteSocket` (lib/adapter/remote-socket.ts)
 * whose methods route through the adapter.
 */
export interface SocketInfo {
  /** The sid. */
  id: string;
  /** Its rooms (including its own sid) on its node. */
  rooms: string[];
  /** The application's `socket.data` (must be JSON for a cluster adapter). */
  data: unknown;
  /** The handshake, without the credential itself (`token` is never sent across nodes). */
  handshake: Record<string, unknown>;
}

/** A socket's answer to `broadcastWithAck`; `err` set when it did not answer (nack, disconnect, timeout). */
export type AckCallback = (sid: string, err: Error | undefined, answer?: unknown) => void;

/** How many sockets a `broadcastWithAck` reached: `complete` false when a node did not report in time. */
export interface AckCount {
  /** Sockets the frame was sent to, summed over the nodes that reported. */
  expected: number;
  /** True when every node reported its count (single node: always). */
  complete: boolean;
}

/** What an adapter needs from a socket on its own node. The namespace's `Socket` implements it. */
export interface AdapterSocket {
  readonly id: string;
  /** The application's `socket.data`. */
  readonly data: unknown;
  /** The handshake facts (`fetchSockets` reports them, without the token). */
  readonly handshake: object;
  /** Send an encoded frame. `volatile` frames may be dropped when the socket is backed up. */
  sendEncoded(frame: Buffer, volatile?: boolean, compress?: boolean): void;
  /**
   * Send an encoded event the client must ack (a fresh id spliced in) and call `settle` exactly
   * once: with the answer, or with an error on nack, disconnect, or after `timeoutMs` (then the
   * id is forgotten, so a late ack is `unknown_id`).
   */
  ask(frame: EncodedFrame, timeoutMs: number, settle: (err: Error | undefined, answer?: unknown) => void): void;
  /** Join rooms as `socket.join` does (ignored once the socket ended). */
  join(rooms: string | string[]): void;
  /** Leave a room as `socket.leave` does (a client subscription to it ends, with `left` to the client). */
  leave(room: string): void;
  /** Leave the namespace (`close`: close the whole connection), as `socket.disconnect` does. */
  disconnect(close?: boolean): unknown;
}

/**
 * What an adapter needs from its namespace.
 * contract: role G (server parity) implements `serverSideReceive` (Socket.IO's `nsp.on(event, …)` for `serverSideEmit`).
 */
export interface AdapterNamespace {
  readonly name: string;
  /** This node's connected sockets of the namespace, by sid. */
  readonly sockets: ReadonlyMap<string, AdapterSocket>;
  /**
   * An event another node sent with `serverSideEmit` (never called for this node's own emits).
   * `reply` is set for `serverSideEmitWithAck`: the namespace calls it once with its answer.
   */
  serverSideReceive(event: string, args: unknown[], reply?: (answer: unknown) => void): void;
  /** Log a line (failures the adapter recovers from: a node that did not answer, a bad message). */
  report(level: 'warn' | 'error', msg: string, err?: unknown): void;
}

/**
 * Room membership and live delivery for one namespace.
 * Events (local membership only): `create-room` (room), `delete-room` (room), `join-room` (room, sid),
 * `leave-room` (room, sid). A cluster adapter subscribes to a room's channel on `create-room` and
 * unsubscribes on `delete-room`.
 */
export interface Adapter extends EventEmitter {
  /** Resolves once the adapter can serve (subscriptions made); the namespace awaits it before its first socket. Optional. */
  init?(): Promise<void>;

  // --- local membership (this node's sockets; synchronous) ---

  /** Add a local socket to rooms (idempotent). Emits `create-room` before the first `join-room` of a room. */
  addAll(sid: string, rooms: Iterable<string>): void;
  /** Remove a local socket from one room (no-op when not in it); the room goes with its last member (`delete-room`). */
  del(sid: string, room: string): void;
  /** Remove a local socket from every room (on disconnect). */
  delAll(sid: string): void;
  /** The rooms a local socket is in, or undefined for a sid unknown on this node. */
  socketRooms(sid: string): ReadonlySet<string> | undefined;
  /** The local members of a room (live view; do not mutate). */
  roomMembers(room: string): ReadonlySet<string> | undefined;
  /**
   * The local sids that these options select.
   * Note: whether a room name is a sid (a direct message, R4.5.2 rule 2) is decided from this node's
   * sockets only (`WsqServer.isDirectRoom`); a client's emit to the sid of a socket on another node is
   * not yet recognised as direct (it needs a cluster-wide sid lookup, not part of this interface yet).
   */
  sockets(opts: Pick<BroadcastOptions, 'rooms' | 'except'>): Set<string>;

  // --- delivery ---

  /**
   * Send one encoded frame to every socket the options select: local members synchronously,
   * every other node's unless `flags.local` (fire and forget; each node delivers to its own
   * members once). Returns the number of local recipients (for `/metrics`).
   */
  broadcast(frame: EncodedFrame, opts: BroadcastOptions): number;
  /**
   * Send an encoded event that every selected socket must ack, on every node (unless `local`).
   * Each socket's answer comes to `onAck` on this (the requesting) node, once per socket,
   * whichever node it is on. Resolves with the number of sockets reached once every node has
   * reported it, or after `flags.timeoutMs` with `complete: false`. Answers still arrive until
   * `timeoutMs` after the call; none after.
   */
  broadcastWithAck(frame: EncodedFrame, opts: BroadcastOptions, onAck: AckCallback): Promise<AckCount>;

  // --- cluster-wide operations ---

  /** The selected sockets on every node (unless `local`); nodes that do not answer within `timeoutMs` are left out (and reported). */
  fetchSockets(opts: SocketSelector): Promise<SocketInfo[]>;
  /** Make the selected sockets join `rooms`, everywhere. Local ones before it returns; resolves once forwarded. */
  addSockets(opts: SocketSelector, rooms: string[]): Promise<void>;
  /** Make the selected sockets leave `rooms` (as `socket.leave`), everywhere. Local ones before it returns. */
  delSockets(opts: SocketSelector, rooms: string[]): Promise<void>;
  /** Disconnect the selected sockets (`close`: their whole connections), everywhere. Local ones before it returns. */
  disconnectSockets(opts: SocketSelector, close: boolean): Promise<void>;
  /** Emit a server-side event to every OTHER node's namespace of this name (`serverSideReceive`); not to this node. */
  serverSideEmit(event: string, args: unknown[]): Promise<void>;
  /**
   * As `serverSideEmit`, and resolve with one answer per other node, once all answered; rejects
   * with a `timeout` WsqError (the answers so far in `details`) after `timeoutMs`. Single node: [].
   */
  serverSideEmitWithAck(event: string, args: unknown[], timeoutMs?: number): Promise<unknown[]>;
  /** Number of nodes serving this namespace, this one included (memory: 1). */
  serverCount(): Promise<number>;

  /** Release resources (subscriptions, timers). Pending waits settle. */
  close(): Promise<void> | void;
}

/** Builds the adapter of a namespace. */
export type AdapterFactory = (nsp: AdapterNamespace) => Adapter;
