/**
 * Host interfaces: what a namespace (and what hangs off it: sockets, subscriptions, room logs)
 * needs from the server, as a small interface instead of the concrete `WsqServer` class, so
 * no module under the server imports lib/server.ts (issue 9 "First: finish the seam": the
 * type-level import cycles through the server class are gone).
 *
 * This file imports only leaf modules (config, store, stats, logging, recovery types): a module
 * that imports it joins no cycle. The frame handlers' host, which names the connection,
 * socket and namespace types, is lib/handlers/host.ts, for the same reason.
 *
 * contract: `WsqServer` implements `NamespaceHost` (checked where it builds namespaces). A
 * role that needs more of the server in a namespace adds the member here, not an import of
 * lib/server.ts.
 */
import type { ServerOptions } from './config.js';
import type { WireStats } from './http/stats.js';
import type { LogFields, LogLevel } from './logging.js';
import type { Recovery } from './recovery.js';
import type { Store } from './store/types.js';

/** The server's options once resolved (the store is opened and held apart): the same type as `ResolvedOptions`. */
export type HostOptions = Omit<ServerOptions, 'store'>;

/** What a namespace, its sockets and its subscriptions use of the server. */
export interface NamespaceHost {
  /** Resolved options (adapter factory, prefetch, ack timeout, maxDeliver, retention, …). */
  readonly options: HostOptions;
  /** The store of room logs and cursors. */
  readonly store: Store;
  /** The `/metrics` counters. */
  readonly stats: WireStats;
  /** Connection state recovery (lib/recovery.ts), when the option is on. */
  readonly recovery: Recovery | undefined;
  /** This process's node id (issue 9 decision 6). */
  readonly nodeId: string;
  /** The server's clock (ms since the Unix epoch). */
  now(): number;
  /** Log a line through the server's logger. */
  log(level: LogLevel, msg: string, err?: unknown, fields?: LogFields): void;
  /** With `cleanupEmptyChildNamespaces`: forget a dynamic child namespace that lost its last socket. */
  dropNamespace(nsp: { readonly name: string }): void;
}
