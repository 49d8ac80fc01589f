/**
 * What the frame handlers use of the server: a small interface instead of the `WsqServer`
 * class, so no handler imports lib/server.ts (issue 9 seam: the server imports the handlers,
 * never the other way round). `WsqServer` implements it (checked at `dispatch`).
 * contract: a handler that needs more of the server adds the member here.
 */
import type { RequestId } from '../../protocol/frames.js';
import type { Guard } from '../auth/guard.js';
import type { Connection } from '../connection.js';
import type { WireStats } from '../http/stats.js';
import type { LogFields } from '../logging.js';
import type { Namespace } from '../namespace.js';
import type { Recovery } from '../recovery.js';
import type { Socket } from '../socket.js';
import type { StoreUnavailableError } from '../store/types.js';

/** The server as the frame handlers see it. */
export interface HandlerHost {
  /** Credentials, permissions and limits per frame (R2.2.12, R2.2.15). */
  readonly guard: Pick<Guard, 'connect' | 'emit' | 'join'>;
  /** The `/metrics` counters. */
  readonly stats: WireStats;
  /** Connection state recovery (R2.7), when the option is on. */
  readonly recovery: Pick<Recovery, 'release' | 'resume'> | undefined;
  /** The server's clock (ms since the Unix epoch). */
  now(): number;
  /** The namespace a `connect` frame names (dynamic and "any" mode ones are created), or undefined. */
  resolveNamespace(name: string, auth: Record<string, unknown>): Promise<Namespace | undefined>;
  /** The socket of a connection in a namespace, or an error sent (`not_connected`) and undefined. */
  socketOf(conn: Connection, ns: string | undefined, id: RequestId | undefined): Socket | undefined;
  /** True when a room name is the sid of a connected socket of the namespace (a direct room). */
  isDirectRoom(nsp: Namespace, room: string): boolean;
  /** A store write failed: logged once per fault episode, readiness says so. */
  storageFault(err: StoreUnavailableError, fields?: LogFields): void;
}
