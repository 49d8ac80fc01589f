/**
 * Errors the server library raises, each with a wire code from protocol/codes.ts. The class
 * is the protocol's one `WsqError` (protocol/errors.ts), which the client SDK's extends.
 */
export { WsqError } from '../protocol/errors.js';
