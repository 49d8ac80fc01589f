/**
 * The Adapter: who is in which room of one namespace, and live delivery to them.
 * The memory adapter serves one node; a Redis adapter will fill the same interface to
 * reach sockets on other nodes. Handlers never touch room membership except through it.
 */
import type { EventEmitter } from 'node:events';

/** Which sockets a broadcast reaches. */
export interface BroadcastOptions {
  /** Rooms to reach; empty means the whole namespace. A socket in several of them gets the frame once. */
  rooms: ReadonlySet<string>;
  /** Rooms (a sid is a room) whose sockets are skipped. */
  except: ReadonlySet<string>;
  flags: BroadcastFlags;
}

export interface BroadcastFlags {
  /** May be dropped for a slow reader (and is never stored). */
  volatile?: boolean;
  /** This node only (meaningful for adapters that span nodes). */
  local?: boolean;
  /** false: never compress this frame, even when permessage-deflate is on. */
  compress?: boolean;
}

/** What an adapter needs from a socket to deliver to it. */
export interface AdapterSocket {
  readonly id: string;
  /** Send an encoded frame. `volatile` frames may be dropped when the socket is backed up. */
  sendEncoded(frame: Buffer, volatile?: boolean, compress?: boolean): void;
}

/** What an adapter needs from its namespace. */
export interface AdapterNamespace {
  readonly name: string;
  readonly sockets: ReadonlyMap<string, AdapterSocket>;
}

/**
 * Room membership and live fan-out for one namespace.
 * Events: `create-room` (room), `delete-room` (room), `join-room` (room, sid), `leave-room` (room, sid).
 */
export interface Adapter extends EventEmitter {
  /** Add a socket to rooms. */
  addAll(sid: string, rooms: Iterable<string>): void;
  /** Remove a socket from one room. */
  del(sid: string, room: string): void;
  /** Remove a socket from every room (on disconnect). */
  delAll(sid: string): void;
  /** The rooms a socket is in, or undefined for an unknown sid. */
  socketRooms(sid: string): ReadonlySet<string> | undefined;
  /** The members of a room (live view; do not mutate). */
  roomMembers(room: string): ReadonlySet<string> | undefined;
  /** The sids a broadcast with these options reaches on this node. */
  sockets(opts: Pick<BroadcastOptions, 'rooms' | 'except'>): Set<string>;
  /** Send one encoded frame to every socket the options select. The frame is encoded once by the caller. */
  broadcast(frame: string, opts: BroadcastOptions): number;
  /** Release resources. */
  close(): Promise<void> | void;
}

/** Builds the adapter of a namespace. */
export type AdapterFactory = (nsp: AdapterNamespace) => Adapter;
