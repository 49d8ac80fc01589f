/**
 * A room subscription: the application's handlers for one room, its position in the
 * room's log (so a reconnect resumes where it stopped), and, for durable and group
 * subscriptions, the acks of deliveries.
 */
import type { EventFrame, JoinFrame, JoinedFrame, PresenceFrame } from '../../protocol/frames.js';
import { WsqError } from './errors.js';
import { HandlerHost, HandlerRegistry } from './handlers.js';
import { UNACKED_OUTCOME, answerer, noHandler, type Link } from './link.js';
import { DeliveryTracker, OffsetTracker, type ResumePoint } from './tracking.js';
import type { AckResult, AnyEvents, AnyHandler, EventMap, JoinedInfo, JoinOptions, SubscriptionEvents } from './types.js';

/**
 * A join's mode, as error messages name it: `live` (plain), `durable`, or `group "<name>"`.
 * @example
 * modeOf({ group: 'workers' }); // 'group "workers"'
 */
export function modeOf(options: JoinOptions): string {
  if (options.group !== undefined) return `group "${options.group}"`;
  return options.durable ? 'durable' : 'live';
}

/** A subscription's state: waiting for its first `joined`, joined, left, or refused. */
export type SubscriptionState = 'joining' | 'joined' | 'left' | 'failed';

/**
 * A room joined with `client.join(room, options)` (or `ns.join`). Handlers stay in place
 * across reconnects: the client rejoins the room and resumes from the last offset seen.
 *
 * `on(name)` takes the lifecycle events `joined`, `recovered`, `gap`, `presence`, `left`
 * and `error`; every other name is an application event of the room. (An application
 * event that happens to use one of those six names is still seen by `onAny`.) `left` fires
 * when the server took the connection out of the room (the application's `socket.leave`):
 * the subscription is then over (state `left`) and is not rejoined after a reconnect. A durable/group
 * delivery is acked when its handler's returned promise resolves (unless `autoAck: false`).
 * @example
 * const room = client.join<{ message: { text: string } }>('lobby', { since: 'earliest' });
 * room.on('message', (data, msg) => console.log(msg.offset, data.text));
 * room.on('gap', (gap) => reloadHistory(gap));
 * await room.ready();
 */
export class Subscription<Listen extends EventMap = AnyEvents> extends HandlerHost<SubscriptionEvents, Listen> {
  /** The room's name. */
  readonly room: string;
  /** The namespace the room is in. */
  readonly ns: string;
  private readonly options: JoinOptions;
  private readonly link: Link;
  private readonly tracker = new OffsetTracker();
  private readonly deliveries = new DeliveryTracker();
  protected readonly handlers: HandlerRegistry<SubscriptionEvents>;
  private current: SubscriptionState = 'joining';
  private hasJoined = false;
  private readonly readyPromise: Promise<JoinedInfo>;
  private settleReady!: { resolve: (info: JoinedInfo) => void; reject: (e: WsqError) => void };
  private onLeft?: () => void;

  /** @internal Use `client.join` or `ns.join`. */
  constructor(link: Link, ns: string, room: string, options: JoinOptions, onLeft: () => void, nsAnyHandlers: Iterable<AnyHandler> = []) {
    super();
    this.link = link;
    this.ns = ns;
    this.room = room;
    this.options = { ...options };
    this.onLeft = onLeft;
    this.readyPromise = new Promise((resolve, reject) => (this.settleReady = { resolve, reject }));
    this.readyPromise.catch(() => {}); // observed through ready()
    this.handlers = new HandlerRegistry<SubscriptionEvents>({
      lifecycle: ['joined', 'recovered', 'gap', 'presence', 'left', 'error'],
      owner: { kind: 'room', name: room },
      report: (e) => this.link.report(e),
      // The namespace's and the client's `onAny` handlers see room events too.
      outerAny: () => [nsAnyHandlers, this.link.anyHandlers()],
    });
  }

  /** Joining, joined, left or failed. */
  get state(): SubscriptionState {
    return this.current;
  }
  /** True for durable and group subscriptions (deliveries are acked). */
  get consumer(): boolean {
    return this.options.durable === true || this.options.group !== undefined;
  }
  /** How it consumes the room: `live`, `durable`, or `group "<name>"`. */
  get mode(): string {
    return modeOf(this.options);
  }
  /** The last offset handed to the handlers and its epoch (plain subscriptions), to resume in a later session. */
  get position(): ResumePoint | undefined {
    return this.tracker.resumePoint();
  }

  /** Resolves with the first `joined`; rejects if the server refused the join. */
  ready(): Promise<JoinedInfo> {
    return this.readyPromise;
  }

  /**
   * Leave the room: no more messages, no rejoin after a reconnect. Resolves when the
   * server confirmed (or at once while disconnected); never rejects: an error the server
   * answers (other than "not a member") goes to the `error` event. Deliveries whose
   * handlers are still running are not answered afterwards (the server took them back).
   * @example
   * await room.leave();
   */
  leave(): Promise<void> {
    if (this.current === 'left') return Promise.resolve();
    const wasJoinedHere = this.current === 'joined';
    this.current = 'left';
    this.onLeft?.();
    this.onLeft = undefined;
    this.settleReady.reject(new WsqError('closed', `Left room "${this.room}" before it was joined.`));
    // A join may be on its way even before its `joined`: leave on the server in any case.
    return new Promise<void>((resolve) => {
      const sent = this.link.request(
        { type: 'leave', room: this.room, ns: this.ns },
        {
          reply: () => resolve(),
          error: (e) => {
            if (wasJoinedHere && e.code !== 'not_member' && e.code !== 'not_connected') this.handlers.reportError(e);
            resolve();
          },
          dropped: () => resolve(), // the connection is gone, and with it the membership
        },
      );
      if (!sent) resolve();
    });
  }

  // ------------------------------------------------------------ internal (the namespace calls these)

  /** @internal The join frame for the current connection (resuming when possible). */
  joinFrame(): JoinFrame {
    const o = this.options;
    const f: JoinFrame = { type: 'join', room: this.room, ns: this.ns };
    if (this.consumer) {
      // The server keeps the cursor of durable and group consumers: `since` only places a
      // new one (so it goes with the first join only), and `epoch` does not apply.
      if (o.since !== undefined && !this.hasJoined) f.since = o.since;
      if (o.durable) f.durable = true;
      if (o.group !== undefined) f.group = o.group;
      if (o.prefetch !== undefined) f.prefetch = o.prefetch;
    } else {
      const resume = this.tracker.resumePoint();
      if (resume) {
        f.since = resume.since;
        f.epoch = resume.epoch;
      } else {
        if (o.since !== undefined) f.since = o.since;
        if (o.epoch !== undefined) f.epoch = o.epoch;
      }
    }
    if (o.presence) f.presence = true;
    return f;
  }

  /** @internal Send the join on the current connection; settles on its reply (or when the connection drops). */
  sendJoin(): Promise<void> {
    if (this.current === 'left' || this.current === 'failed') return Promise.resolve();
    const frame = this.joinFrame();
    const resumed = this.hasJoined;
    return new Promise<void>((resolve) => {
      const sent = this.link.request(frame, {
        reply: (reply) => {
          if (reply.type === 'joined') this.joined(reply, resumed);
          resolve();
        },
        error: (e) => {
          this.refused(e);
          resolve();
        },
        dropped: resolve,
      });
      if (!sent) resolve();
    });
  }

  /** @internal A `joined` arrived. */
  joined(frame: JoinedFrame, resumed: boolean): void {
    if (this.current === 'left' || this.current === 'failed') return;
    // The epoch the join asked about: the one last read in, or (first join) the one given.
    const previousEpoch = this.tracker.epoch ?? (this.hasJoined ? undefined : this.options.epoch);
    if (!this.consumer) this.tracker.joined(frame);
    this.current = 'joined';
    this.hasJoined = true;
    const info: JoinedInfo = { epoch: frame.epoch, offset: frame.offset, recovered: frame.recovered, resumed };
    if (frame.replay) info.replay = frame.replay;
    this.settleReady.resolve(info);
    this.handlers.lifecycle.emit('joined', info);
    if (!frame.recovered) {
      this.handlers.lifecycle.emit('gap', { ...frame.gap, epoch: frame.epoch, epochChanged: previousEpoch !== undefined && previousEpoch !== frame.epoch });
    } else if (resumed) {
      this.handlers.lifecycle.emit('recovered', info);
    }
  }

  /** @internal The server refused the join. */
  refused(error: WsqError): void {
    if (this.current === 'left') return;
    this.current = 'failed';
    this.onLeft?.();
    this.onLeft = undefined;
    this.settleReady.reject(error);
    this.handlers.reportError(error);
  }

  /**
   * @internal The server ended the subscription (it disconnected the namespace): state
   * `left`, not rejoined; a `ready()` still waiting rejects with `error`.
   */
  ended(error: WsqError): void {
    if (this.current === 'left' || this.current === 'failed') return;
    this.current = 'left';
    this.onLeft = undefined;
    this.settleReady.reject(error);
  }

  /**
   * @internal This client stored a message in this room without echo (the `ack` of its
   * emit says where): a plain subscription never hands it over, not even in a replay, so
   * the handlers' view does not depend on when the connection drops.
   */
  ownEmit(ack: AckResult<unknown>): void {
    if (this.consumer || this.current !== 'joined' || ack.duplicate || ack.offset === undefined || ack.epoch === undefined) return;
    this.tracker.skip(ack.offset, ack.epoch);
  }

  /**
   * @internal The server took this connection out of the room (the application's
   * `socket.leave`): state `left`, not rejoined; `ready()` still waiting rejects; `left` fires.
   */
  removedByServer(): void {
    if (this.current === 'left' || this.current === 'failed') return;
    this.current = 'left';
    this.onLeft = undefined;
    this.settleReady.reject(new WsqError('closed', `The server took this connection out of room "${this.room}" before it was joined.`));
    this.handlers.lifecycle.emit('left', { by: 'server' });
  }

  /** @internal The client closed for good. */
  closed(error: WsqError): void {
    if (this.current === 'joining') this.settleReady.reject(error);
  }

  /** @internal A presence notice for this room. */
  presence(frame: PresenceFrame): void {
    this.handlers.lifecycle.emit('presence', frame);
  }

  /** @internal An event of this room arrived on connection `conn`. */
  deliver(frame: EventFrame, conn: number): void {
    if (this.current === 'left' || this.current === 'failed') return;
    if (this.consumer && frame.id !== undefined) return this.deliverTracked(frame, conn);
    if (!this.tracker.accept(frame.offset, frame.epoch)) return; // seen already
    this.handlers.notify(frame);
  }

  private deliverTracked(frame: EventFrame, conn: number): void {
    const key = frame.offset === undefined ? undefined : `${frame.epoch ?? ''}:${frame.offset}`;
    const nackDelayMs = this.options.nackDelayMs ?? this.link.nackDelayMs;
    const live = () => this.current !== 'left' && this.current !== 'failed';
    const answer = answerer(this.link, this.deliveries, key, frame.id!, conn, nackDelayMs, live);
    if (!answer) return;
    if (!this.handlers.has(frame.event)) {
      // I7 #18: nobody here can take it (in either ack mode). A group hands it back at once
      // (nacked with nackDelayMs), so another member may take it; a durable subscription is
      // this client's alone, so it is left unacked: redelivered after the server's ack
      // timeout, dead-lettered after maxDeliver attempts (R5.4.9). Both are bounded.
      if (this.options.group !== undefined) {
        answer(false);
        this.handlers.reportError(
          noHandler(
            frame,
            `the delivery was nacked, so another member of group "${this.options.group}" may take it; it comes back in ${nackDelayMs} ms, and after maxDeliver attempts goes to "$dead:${this.room}"`,
          ),
        );
      } else {
        if (key !== undefined) this.deliveries.release(key);
        this.handlers.reportError(noHandler(frame, UNACKED_OUTCOME));
      }
      return;
    }
    const done = this.handlers.dispatch(frame, answer);
    if (this.options.autoAck === false) {
      done.catch((e) => {
        answer(false); // a no-op when the handler already called ack() or nack()
        this.handlers.failed(e, frame.event);
      });
      return;
    }
    done.then(
      () => answer(true),
      (e) => {
        answer(false);
        this.handlers.failed(e, frame.event);
      },
    );
  }
}
