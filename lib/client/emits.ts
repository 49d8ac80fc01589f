/**
 * Emits from the time they are made until they are settled: sent at once when the
 * connection (and namespace) is up, else held in the outbox; tracked until acked when
 * they asked for an ack or carry a key; resent after a drop when they carry a key (the
 * server dedups), failed with "outcome unknown" when they do not; timed out.
 */
import type { ClientFrame, ErrorFrame, RequestId, ServerAckFrame } from '../../protocol/frames.js';
import { WsqError, WsqOutcomeUnknownError, WsqTimeoutError } from './errors.js';
import type { EmitEntry } from './link.js';
import { Outbox } from './outbox.js';
import type { AckResult } from './types.js';

/** What the emit machinery needs from the client. */
export interface EmitHost {
  /** True when frames for namespace `ns` can be sent now. */
  canSend(ns: string): boolean;
  /** Send one frame on the current connection. */
  write(frame: ClientFrame): void;
  /** A fresh request id. */
  nextId(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/**
 * @example
 * const emits = new Emits(host, 1000);
 * emits.submit(entry);       // sent now, or queued (throws outbox_full)
 * emits.flush();             // after (re)connecting: send what waits, in order
 * emits.connectionLost();    // requeue keyed in-flight emits, fail the others
 */
export class Emits {
  private readonly outbox: Outbox<EmitEntry>;
  private readonly inflight = new Map<RequestId, EmitEntry>();

  constructor(private readonly host: EmitHost, limit: number) {
    this.outbox = new Outbox<EmitEntry>(limit);
  }

  /** Emits waiting in the outbox. */
  get queued(): number {
    return this.outbox.size;
  }

  /** Send now, or queue (throws `WsqError` `outbox_full`). Volatile emits are dropped while they cannot be sent. */
  submit(entry: EmitEntry): void {
    const sendable = this.host.canSend(entry.ns);
    if (entry.frame.volatile && !sendable) return;
    if (this.outbox.size === 0 && sendable) {
      this.startTimer(entry);
      this.send(entry);
      return;
    }
    this.outbox.push(entry);
    this.startTimer(entry);
  }

  /** Send, in order, what waits for namespaces that can be sent to now. */
  flush(): void {
    if (this.outbox.size === 0) return;
    for (const entry of this.outbox.takeWhere((e) => this.host.canSend(e.ns))) this.send(entry);
  }

  /** An `ack` frame: settles its emit. False when it was not for an emit. */
  ack(frame: ServerAckFrame): boolean {
    const entry = this.inflight.get(frame.id);
    if (!entry) return false;
    this.inflight.delete(frame.id);
    if (entry.done) return true;
    entry.done = true;
    if (entry.timer !== undefined) this.host.clearTimeout(entry.timer);
    const result: AckResult = { duplicate: frame.duplicate === true };
    if (frame.offset !== undefined) result.offset = frame.offset;
    if (frame.epoch !== undefined) result.epoch = frame.epoch;
    if (frame.data !== undefined) result.data = frame.data;
    entry.settle?.resolve(result);
    return true;
  }

  /**
   * An `error` frame answering an emit: rejects its promise. Returns undefined when it
   * was not for an emit, else the error to report when no promise took it.
   */
  error(frame: ErrorFrame, error: WsqError): { report?: WsqError } | undefined {
    if (frame.id === undefined) return undefined;
    const entry = this.inflight.get(frame.id);
    if (!entry) return undefined;
    this.inflight.delete(frame.id);
    if (entry.settle) {
      this.fail(entry, error);
      return {};
    }
    entry.done = true;
    return { report: new WsqError(error.code, `${entry.what}: ${error.message}`, { details: error.details }) };
  }

  /** The connection dropped: resend those with a key (the server dedups), fail the others. */
  connectionLost(): void {
    const resend: EmitEntry[] = [];
    for (const entry of [...this.inflight.values()].sort((a, b) => a.seq - b.seq)) {
      if (entry.done) continue;
      delete entry.id;
      if (entry.frame.key !== undefined) resend.push(entry);
      else this.fail(entry, new WsqOutcomeUnknownError(entry.what));
    }
    this.inflight.clear();
    this.outbox.requeue(resend);
  }

  /** Fail every queued emit of a namespace. */
  rejectQueued(ns: string, error: WsqError): void {
    for (const entry of this.outbox.takeWhere((e) => e.ns === ns)) this.fail(entry, error);
  }

  /** Fail everything (the client closed for good). */
  shutdown(error: WsqError): void {
    for (const entry of this.outbox.drain()) this.fail(entry, error);
    for (const entry of this.inflight.values()) this.fail(entry, error);
    this.inflight.clear();
  }

  private send(entry: EmitEntry): void {
    let frame: ClientFrame = entry.frame;
    if (entry.track) {
      const id = this.host.nextId();
      entry.id = id;
      this.inflight.set(id, entry);
      frame = { ...entry.frame, id };
    }
    this.host.write(frame);
  }

  private startTimer(entry: EmitEntry): void {
    const ms = entry.timeoutMs;
    if (ms === undefined || !entry.settle) return;
    entry.timer = this.host.setTimeout(() => {
      if (entry.done) return;
      if (entry.id !== undefined) this.inflight.delete(entry.id);
      this.outbox.remove(entry);
      this.fail(entry, new WsqTimeoutError(entry.what, ms));
    }, ms);
  }

  private fail(entry: EmitEntry, error: WsqError): void {
    if (entry.done) return;
    entry.done = true;
    if (entry.timer !== undefined) this.host.clearTimeout(entry.timer);
    entry.settle?.reject(error);
  }
}
