/**
 * Emits from the time they are made until they are settled: sent at once when the
 * connection (and namespace) is up and nothing of that namespace waits before them, else
 * held in the outbox (first in, first out per namespace); tracked until acked when they
 * asked for an ack or carry a key; resent after a drop when they carry a key (the server
 * dedups), failed with "outcome unknown" when they do not; timed out; refused before
 * sending when larger than the server's `maxPayload`.
 */
import { ackArgs, encodeFrameBinary, isBinaryWire, wireByteLength } from '../../protocol/binary.js';
import { utf8Bytes } from '../../protocol/utf8.js';
import type { ClientFrame, ErrorFrame, RequestId, ServerAckFrame } from '../../protocol/frames.js';
import { WsqError, WsqOutcomeUnknownError, WsqTimeoutError } from './errors.js';
import type { EmitEntry } from './link.js';
import { Outbox } from './outbox.js';
import type { AckResult } from './types.js';

/** What the emit machinery needs from the client. */
export interface EmitHost {
  /** True when frames for namespace `ns` can be sent now. */
  canSend(ns: string): boolean;
  /** Send one encoded frame on the current connection. */
  write(text: string): void;
  /** The server's `maxPayload` (from the latest `welcome`), if known. */
  maxPayload(): number | undefined;
  /** The features of the latest `welcome` (R1.10), undefined before the first; absent: every feature assumed. */
  features?(): readonly string[] | undefined;
  /** Report an error no promise takes (on the client's `error` event). */
  report(error: WsqError): void;
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

  constructor(
    private readonly host: EmitHost,
    limit: number,
  ) {
    this.outbox = new Outbox<EmitEntry>(limit);
  }

  /** Emits waiting in the outbox. */
  get queued(): number {
    return this.outbox.size;
  }

  /**
   * Send now when the namespace can be sent to and none of its emits waits, else queue.
   * Volatile emits are never queued: sent now or dropped. Throws `WsqError`
   * `outbox_full`, or `payload_too_large` when the frame is over the server's `maxPayload`.
   */
  submit(entry: EmitEntry): void {
    const sendable = this.host.canSend(entry.ns);
    if (entry.frame.volatile || entry.volatile) {
      if (sendable) this.sendOrThrow(entry);
      return;
    }
    if (sendable && !this.outbox.has((e) => e.ns === entry.ns)) {
      this.sendOrThrow(entry);
      this.startTimer(entry);
      return;
    }
    // Known to be too large already (the id comes at send time: checked again then).
    const tooLarge = this.host.maxPayload() === undefined ? undefined : this.check(entry, encodeFrameBinary(entry.frame));
    if (tooLarge) throw tooLarge;
    this.outbox.push(entry);
    this.startTimer(entry);
  }

  /** Send, in order, what waits for namespaces that can be sent to now. */
  flush(): void {
    if (this.outbox.size === 0) return;
    for (const entry of this.outbox.takeWhere((e) => this.host.canSend(e.ns))) {
      const tooLarge = this.send(entry);
      if (tooLarge) this.failOrReport(entry, tooLarge);
    }
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
    if (result.offset !== undefined) entry.onStored?.(result);
    // R4.6.4: an emit to the server's handlers is answered with the answers themselves (as in Socket.IO).
    const answer = entry.answer;
    if (answer?.kind === 'callback') {
      const answers = entry.frame.room === undefined ? ackArgs(frame) : [result];
      if (answer.errorFirst) answer.cb(null, ...answers);
      else answer.cb(...answers);
    } else if (answer?.kind === 'promise') entry.settle?.resolve(ackArgs(frame)[0] as AckResult);
    else entry.settle?.resolve(result);
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

  /**
   * The connection dropped: resend those with a key (the server dedups), fail the others.
   * With `failAll` (the server closed with 1009, a frame too big to read), fail every one:
   * resending would only close the next connection the same way.
   */
  connectionLost(failAll?: (entry: EmitEntry) => WsqError): void {
    const resend: EmitEntry[] = [];
    for (const entry of [...this.inflight.values()].sort((a, b) => a.seq - b.seq)) {
      if (entry.done) continue;
      delete entry.id;
      if (failAll) this.failOrReport(entry, failAll(entry));
      else if (entry.frame.key !== undefined) resend.push(entry);
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

  /** Send on the current connection; returns (and sends nothing) when the frame is over `maxPayload`. */
  private send(entry: EmitEntry): WsqError | undefined {
    let frame: ClientFrame = entry.frame;
    const id = entry.track ? this.host.nextId() : undefined;
    if (id !== undefined) frame = { ...entry.frame, id };
    const features = this.host.features?.();
    // R1.10: without `args` announced, no arguments go as a frame without data (the server's null); several cannot go.
    if (features && frame.args !== undefined && !features.includes('args') && frame.args.length === 0) {
      const { args: _none, ...rest } = frame;
      frame = rest;
    }
    const text = encodeFrameBinary(frame); // R4.9: a binary message when data/args hold binary values, else JSON as ever
    const unsupported = features && this.unsupported(entry, frame, text, features);
    if (unsupported) return unsupported;
    const tooLarge = this.check(entry, text);
    if (tooLarge) return tooLarge;
    if (id !== undefined) {
      entry.id = id;
      this.inflight.set(id, entry);
    }
    this.host.write(text);
    return undefined;
  }

  /** A `WsqError` `unsupported` when the frame needs a feature the server did not announce (R1.10, R6.1.4). */
  private unsupported(entry: EmitEntry, frame: ClientFrame, text: string, features: readonly string[]): WsqError | undefined {
    const need = isBinaryWire(text) && !features.includes('binary') ? 'binary' : 'args' in frame && frame.args !== undefined && !features.includes('args') ? 'args' : undefined;
    if (!need) return undefined;
    const what = need === 'binary' ? 'binary values (Buffer, Uint8Array, ArrayBuffer)' : 'more than one argument';
    return new WsqError(
      'unsupported',
      `${entry.what} was not sent: it has ${what}, and this server does not announce the "${need}" feature in welcome.features. Send one JSON value (e.g. an array, or base64 for bytes).`,
    );
  }

  private sendOrThrow(entry: EmitEntry): void {
    const tooLarge = this.send(entry);
    if (tooLarge) {
      entry.done = true;
      throw tooLarge;
    }
  }

  /** A `payload_too_large` error when `text` is over the server's `maxPayload` (bytes of UTF-8). */
  private check(entry: EmitEntry, text: string): WsqError | undefined {
    const max = this.host.maxPayload();
    if (max === undefined) return undefined;
    const size = wireByteLength(text); // a binary message counts all its bytes (R4.9.5)
    if (size <= max) return undefined;
    return new WsqError(
      'payload_too_large',
      `${entry.what} was not sent: its frame is ${size} bytes and the server accepts at most ${max} (maxPayload in welcome). Send smaller data, or store it elsewhere and send a reference.`,
      { details: { size, maxPayload: max } },
    );
  }

  private startTimer(entry: EmitEntry): void {
    const ms = entry.timeoutMs;
    // No timer for Infinity, NaN or <= 0 (wait for the ack however long it takes); timers
    // take at most 2^31-1 ms (a longer delay would fire at once).
    if (ms === undefined || !entry.settle || !Number.isFinite(ms) || ms <= 0) return;
    entry.timer = this.host.setTimeout(
      () => {
        if (entry.done) return;
        if (entry.id !== undefined) this.inflight.delete(entry.id);
        this.outbox.remove(entry);
        this.fail(entry, new WsqTimeoutError(entry.what, ms));
      },
      Math.min(ms, MAX_TIMER_MS),
    );
  }

  /** Fail an emit: its promise rejects, or (a plain emit) the error goes to the client's `error` event. */
  private failOrReport(entry: EmitEntry, error: WsqError): void {
    if (entry.done) return;
    if (entry.settle) this.fail(entry, error);
    else {
      entry.done = true;
      this.host.report(error);
    }
  }

  private fail(entry: EmitEntry, error: WsqError): void {
    if (entry.done) return;
    entry.done = true;
    if (entry.timer !== undefined) this.host.clearTimeout(entry.timer);
    entry.settle?.reject(error);
  }
}

/** The longest delay a timer takes (2^31-1 ms, about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The length of `text` in bytes of UTF-8 (what the server's `maxPayload` counts), without allocating (protocol/utf8.ts). */
export const utf8Length: (text: string) => number = utf8Bytes;
