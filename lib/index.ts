/**
 * wsq: the server library. A WebSocket message queue on plain `ws` with namespaces, rooms,
 * emit, acks both ways, and replay from ordered room logs.
 * @example
 * import { WsqServer } from 'wsq';
 * const server = new WsqServer({ namespaces: 'any' });
 * server.on('connection', (socket) => socket.on('hello', (data, reply) => reply({ hi: socket.id })));
 * await server.listen({ port: 8080 });
 */
export { WsqServer, type WsqServerOptions, type ResolvedOptions } from './server.js';
export { Namespace, ParentNamespace, type Middleware, type NamespaceMatcher, type PublishOptions } from './namespace.js';
export { Socket, type EventHandler, type AnyHandler, type Handshake, type AnyOutgoingHandler, type PacketMiddleware, type UpgradeFacts } from './socket.js';
export type { DefaultEventsMap, EventNames, EventParams, EventsMap } from './typed-events.js';
export { BroadcastOperator } from './broadcast.js';
export { WsqError } from './errors.js';
export { MemoryAdapter, socketInfo } from './adapter/memory.js';
export { RemoteSocket, type RemoteSocketHost } from './adapter/remote-socket.js';
export {
  DEFAULT_TIMEOUT_MS,
  type AckCallback,
  type AckCount,
  type Adapter,
  type AdapterFactory,
  type AdapterNamespace,
  type AdapterSocket,
  type BroadcastOptions,
  type BroadcastFlags,
  type EncodedFrame,
  type SocketInfo,
  type SocketSelector,
} from './adapter/types.js';
export type { HostOptions, NamespaceHost } from './host.js';
export { MemoryStore } from './store/memory.js';
export { LmdbStore } from './store/lmdb.js';
export {
  QueueFullError,
  StoreUnavailableError,
  type StoreHealth,
  type AppendExtra,
  type Store,
  type StoreOptions,
  type Retention,
  type RetentionResolver,
  type StoredMessage,
  type NewMessage,
  type LogPosition,
  type AppendResult,
  type Durability,
  type ConsumerState,
} from './store/types.js';
export { DEFAULT_RETENTION, retentionResolver, type RetentionRule } from './retention.js';
export { planRecovery, type RecoveryPlan, type RecoveryRequest, type LogView } from './replay.js';
export { VERSION } from './version.js';
export {
  ConfigError,
  ConfigSchema,
  ServerOptionsSchema,
  parseConfig,
  parseServerOptions,
  ACTIONS,
  type Action,
  type PermissionRule,
  type ApiKey,
  type AuthConfigInput,
  type LimitsConfigInput,
  type Config,
  type ConfigInput,
} from './config.js';
export { authorize, type Credentials, type Refusal } from './auth/permissions.js';
export type { AuthorizeHook } from './auth/guard.js';
export { hashKey, newKey } from './auth/keys.js';
export { createLogger, LOG_LEVELS, type LogFields, type LogFunction, type LoggerOption, type LogLevel, type LogThreshold } from './logging.js';
