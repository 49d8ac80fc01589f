/**
 * Socket.IO's argument conventions in the server library (PROTOCOL.md R4.5.10, R4.6.4): a function
 * as the last argument is the ack callback; `emitWithAck`'s trailing options object; the `ack`
 * frame that carries a handler's answers.
 */
import { argFields, encodeWithBinary } from '../protocol/binary.js';
import type { RequestId } from '../protocol/frames.js';

/** An ack callback as Socket.IO has it: the client's answers (after `timeout(ms)`: an error or null first). */
export type AckCallback = (...answers: any[]) => void;

/** The last argument when it is a function (the ack callback, as in Socket.IO), and the arguments before it. */
export function takeCallback(args: readonly unknown[]): { args: unknown[]; cb: AckCallback | undefined } {
  const last = args[args.length - 1];
  if (typeof last === 'function') return { args: args.slice(0, -1), cb: last as AckCallback };
  return { args: [...args], cb: undefined };
}

/**
 * The trailing options object of a call that also takes any number of arguments: the last
 * argument when at least one argument comes before it and it is a plain object (`{}` included)
 * whose own keys are all option names. To send such an object as the last argument, pass `{}` after it.
 * @example
 * takeOptions(['q', { timeoutMs: 50 }], ['timeoutMs']); // { args: ['q'], opts: { timeoutMs: 50 } }
 */
export function takeOptions<K extends string>(args: readonly unknown[], keys: readonly K[]): { args: unknown[]; opts: Partial<Record<K, unknown>> | undefined } {
  const last = args[args.length - 1];
  if (args.length >= 2 && isOptionsObject(last, keys)) return { args: args.slice(0, -1), opts: last as Partial<Record<K, unknown>> };
  return { args: [...args], opts: undefined };
}

/** True for a plain object (prototype Object.prototype or null) whose own keys are all in `keys`. */
export function isOptionsObject(v: unknown, keys: readonly string[]): boolean {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) return false;
  for (const k of Object.keys(v)) if (!keys.includes(k)) return false;
  return true;
}

/**
 * The `ack` frame answering an emit with a handler's answers (R6.6.2): none → no `data`; one → `data`;
 * more → `args`; binary values make it a binary message (R4.9).
 * @example
 * encodeAck(1, [3]); // '{"type":"ack","id":1,"data":3}'
 */
export function encodeAck(id: RequestId, answers: readonly unknown[]): string {
  if (answers.length === 0 || (answers.length === 1 && answers[0] === undefined)) return JSON.stringify({ type: 'ack', id });
  const { fields, parts } = argFields(answers, false);
  return encodeWithBinary({ type: 'ack', id, ...fields }, parts);
}
