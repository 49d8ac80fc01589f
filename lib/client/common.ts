/**
 * Everything the Node and browser entries share (no WebSocket implementation here).
 */
export { WsqClient, type ClientState } from './client.js';
export { WsqNamespace } from './namespace.js';
export { Subscription, type SubscriptionState } from './subscription.js';
export { WsqError, WsqTimeoutError, WsqOutcomeUnknownError, WsqUpgradeError, type WsqErrorCode, type ClientErrorCode } from './errors.js';
export { Backoff, backoffDelay, type BackoffOptions } from './backoff.js';
export { upgradeUrl, type WebSocketLike, type WebSocketConstructor, type UpgradeRefusal } from './transport.js';
export type { ResumePoint } from './tracking.js';
export type * from './types.js';
export type { WelcomeFrame, EventFrame, JoinedFrame, PresenceFrame, GapReport, RequestId } from '../../protocol/frames.js';
export type { ErrorCode } from '../../protocol/codes.js';
