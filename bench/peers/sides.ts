/**
 * The systems of the peers bench, each behind the same small interfaces so that one
 * harness (`workloads.ts`) measures them all the same way: wsq (a server child on the memory
 * or disk store), NATS core and JetStream (TCP and WebSocket), RabbitMQ quorum queues, and
 * Mosquitto (TCP and WebSocket). Every client is a minimal one of this folder.
 */
import { connectLean, type LeanWebSocket } from '../lean-ws.js';
import { AmqpClient } from './amqp.js';
import { MqttClient } from './mqtt.js';
import { NatsClient } from './nats.js';
import type { Endpoint } from './pipe.js';

/** Something to close at the end of a measurement. */
export interface Closable {
  close(): void;
}

/** A fan-out system: subscribers to one topic/room and a publisher into it. */
export interface FanoutSide {
  subscribe(onMessage: () => void): Promise<Closable>;
  publisher(): Promise<Closable & { publish(payload: string): void }>;
}

/** A publisher whose every publish is acknowledged (`done` runs at the ack). */
export interface AckedPublisher extends Closable {
  publish(payload: string, done: () => void): void;
}

/** A durable-publish system. */
export interface DurableSide {
  publisher(): Promise<AckedPublisher>;
}

/** A work-queue system: acked publishers and competing consumers with `prefetch` unacked each. */
export interface WorkSide extends DurableSide {
  consumer(prefetch: number, onMessage: () => void): Promise<Closable>;
}

/** A replay system: fill a backlog, then time a fresh reader through all of it. */
export interface ReplaySide {
  fill(count: number, bytes: number): Promise<void>;
  /** Resolves when `count` messages arrived; returns ms from the request to the last one. */
  readAll(count: number): Promise<number>;
}

/** A system that holds idle connections (for memory per connection). */
export interface IdleSide {
  open(): Promise<Closable>;
}

// ------------------------------------------------------------------ wsq

const WSQ_PROTOCOL = 'wsq.v1';

/** One received wsq frame: `buf[s, e)` (decoded only when a handler needs the text). */
interface WsqFrame {
  buf: Buffer;
  s: number;
  e: number;
  ws: LeanWebSocket;
}

const EVENT = Buffer.from('{"type":"event"');
const ACK = Buffer.from('{"type":"ack"');
const JOINED = Buffer.from('{"type":"joined"');
const ERROR = Buffer.from('{"type":"error"');
/** True when the frame starts with `prefix` (a byte compare: no decoding per delivery). */
const is = (f: WsqFrame, prefix: Buffer): boolean => f.e - f.s >= prefix.length && f.buf.compare(prefix, 0, prefix.length, f.s, f.s + prefix.length) === 0;
const text = (f: WsqFrame): string => f.buf.toString('utf8', f.s, f.e);

/** Open a lean wsq connection; resolves after `welcome`. `onFrame` sees every later frame. */
function wsqConnect(port: number, onFrame: (f: WsqFrame) => void): Promise<LeanWebSocket> {
  return new Promise((resolve, reject) => {
    let welcomed = false;
    const ws = connectLean(`ws://127.0.0.1:${port}/`, WSQ_PROTOCOL, {
      onMessage: (buf, s, e) => {
        if (!welcomed) {
          welcomed = true;
          return resolve(ws);
        }
        onFrame({ buf, s, e, ws });
      },
      onError: (m) => reject(new Error(`wsq: ${m}`)),
      onClose: () => (welcomed ? undefined : reject(new Error('wsq: closed before welcome'))),
    });
  });
}

const wsqCloser = (ws: LeanWebSocket): Closable => ({ close: () => ws.terminate() });

/** Join `room` (with extra join fields) and resolve on `joined`; events then go to `onEvent`. */
async function wsqJoin(port: number, join: Record<string, unknown>, onEvent: (f: WsqFrame) => void): Promise<LeanWebSocket> {
  let joined: (() => void) | undefined;
  const ready = new Promise<void>((r) => (joined = r));
  const ws = await wsqConnect(port, (f) => {
    if (is(f, EVENT)) onEvent(f);
    else if (is(f, JOINED)) joined?.();
    else if (is(f, ERROR)) throw new Error(`wsq answered join with ${text(f)}`);
  });
  ws.send(JSON.stringify({ type: 'join', ...join }));
  await ready;
  return ws;
}

/** wsq on a server child listening on `port`; `tag` makes this round's work and replay rooms its own. */
export function wsqSides(port: number, tag: string): { fanout: FanoutSide; durable: WorkSide; replay: ReplaySide & { room: string }; idle: IdleSide } {
  const room = 'bench';
  const work = `work-${tag}`;
  const replayRoom = `replay-${tag}`;
  const acked = async (target: string): Promise<AckedPublisher> => {
    const waiting: (() => void)[] = [];
    let id = 0;
    const ws = await wsqConnect(port, (f) => {
      if (is(f, ACK)) waiting.shift()?.();
      else if (is(f, ERROR)) throw new Error(`wsq refused an emit: ${text(f)}`);
    });
    return {
      publish: (payload, done) => {
        waiting.push(done);
        ws.send(`{"type":"emit","room":"${target}","event":"e","data":${payload},"id":${++id}}`);
      },
      close: () => ws.terminate(),
    };
  };
  return {
    fanout: {
      subscribe: async (onMessage) => wsqCloser(await wsqJoin(port, { room }, () => onMessage())),
      publisher: async () => {
        const ws = await wsqConnect(port, () => undefined);
        return { publish: (p) => ws.send(`{"type":"emit","room":"${room}","event":"tick","data":${p}}`), close: () => ws.terminate() };
      },
    },
    durable: {
      publisher: () => acked(work),
      consumer: async (prefetch, onMessage) =>
        wsqCloser(
          await wsqJoin(port, { room: work, group: 'workers', prefetch }, (f) => {
            const id = /"id":(\d+),"attempt"/.exec(text(f))?.[1];
            f.ws.send(`{"type":"ack","id":${id}}`);
            onMessage();
          }),
        ),
    },
    replay: {
      room: replayRoom,
      fill: async () => {
        throw new Error('wsq fills its backlog in-process (DurableChild.fill)');
      },
      readAll: (count) =>
        new Promise((resolve, reject) => {
          let got = 0;
          const t0 = performance.now();
          wsqJoin(port, { room: replayRoom, since: 0 }, (f) => {
            if (++got === count) {
              resolve(performance.now() - t0);
              f.ws.terminate();
            }
          }).catch(reject);
        }),
    },
    idle: { open: async () => wsqCloser(await wsqConnect(port, () => undefined)) },
  };
}

// ------------------------------------------------------------------ NATS core and JetStream

/** NATS core fan-out over `ep` (TCP or WebSocket). */
export function natsFanout(ep: Endpoint): FanoutSide {
  return {
    subscribe: async (onMessage) => {
      const c = await NatsClient.connect(ep);
      c.sub('bench.room', () => onMessage());
      await c.ping();
      return c;
    },
    publisher: async () => {
      const c = await NatsClient.connect(ep);
      return { publish: (p) => c.pub('bench.room', p), close: () => c.close() };
    },
  };
}

/** Idle NATS connections (CONNECT done) over `ep`. */
export function natsIdle(ep: Endpoint): IdleSide {
  return { open: () => NatsClient.connect(ep) };
}

/** Create (afresh) a JetStream stream with file storage. */
async function stream(c: NatsClient, name: string, subject: string, retention: 'limits' | 'workqueue'): Promise<void> {
  try {
    await c.jsApi(`$JS.API.STREAM.DELETE.${name}`, {});
  } catch {
    // did not exist
  }
  await c.jsApi(`$JS.API.STREAM.CREATE.${name}`, { name, subjects: [subject], storage: 'file', retention, num_replicas: 1, discard: 'old' });
}

/** A JetStream publisher: every publish carries a reply subject and its PubAck counts as the ack. */
async function jsPublisher(ep: Endpoint, subject: string): Promise<AckedPublisher> {
  const c = await NatsClient.connect(ep);
  const inbox = c.newInbox();
  const waiting: (() => void)[] = [];
  c.sub(inbox, (payload) => {
    if (payload.includes('"error"')) throw new Error(`JetStream refused a publish: ${payload.toString()}`);
    waiting.shift()?.();
  });
  await c.ping();
  return {
    publish: (p, done) => {
      waiting.push(done);
      c.pub(subject, p, inbox);
    },
    close: () => c.close(),
  };
}

/** JetStream: durable publish and a pull consumer work queue (over `ep`); `setup` creates the streams. */
export function jetstreamSides(ep: Endpoint): { setup(): Promise<void>; durable: WorkSide; replay: ReplaySide } {
  return {
    setup: async () => {
      const c = await NatsClient.connect(ep);
      await stream(c, 'WSQWORK', 'wsqwork.jobs', 'workqueue');
      await c.jsApi('$JS.API.CONSUMER.DURABLE.CREATE.WSQWORK.workers', {
        stream_name: 'WSQWORK',
        config: { durable_name: 'workers', ack_policy: 'explicit', deliver_policy: 'all', max_ack_pending: 10_000, ack_wait: 30e9 },
      });
      await stream(c, 'WSQREPLAY', 'wsqreplay.log', 'limits');
      c.close();
    },
    durable: {
      publisher: () => jsPublisher(ep, 'wsqwork.jobs'),
      consumer: async (prefetch, onMessage) => {
        const c = await NatsClient.connect(ep);
        const inbox = c.newInbox();
        let outstanding = 0;
        const pull = (n: number): void => {
          outstanding += n;
          c.pub('$JS.API.CONSUMER.MSG.NEXT.WSQWORK.workers', JSON.stringify({ batch: n, expires: 30e9 }), inbox);
        };
        c.sub(inbox, (_p, reply, headers) => {
          if (headers?.startsWith('NATS/1.0 4')) {
            // 404/408/409: this pull ended without (all) messages; ask again.
            outstanding = 0;
            pull(prefetch);
            return;
          }
          if (reply) c.pub(reply, '+ACK');
          onMessage();
          if (--outstanding <= prefetch / 2) pull(prefetch - outstanding);
        });
        await c.ping();
        pull(prefetch);
        return c;
      },
    },
    replay: {
      fill: async (count, bytes) => {
        const p = await jsPublisher(ep, 'wsqreplay.log');
        const body = JSON.stringify({ body: 'x'.repeat(bytes) });
        await new Promise<void>((resolve) => {
          let sent = 0;
          let acked = 0;
          const next = (): void => {
            if (++acked === count) return resolve();
            if (sent < count) {
              sent++;
              p.publish(body, next);
            }
          };
          for (; sent < Math.min(count, 256); sent++) p.publish(body, next);
        });
        p.close();
      },
      readAll: async (count) => {
        const c = await NatsClient.connect(ep);
        const inbox = c.newInbox();
        let got = 0;
        let t0 = 0;
        const done = new Promise<number>((resolve) => {
          c.sub(inbox, () => {
            if (++got === count) resolve(performance.now() - t0);
          });
        });
        await c.ping();
        t0 = performance.now();
        await c.jsApi('$JS.API.CONSUMER.CREATE.WSQREPLAY', {
          stream_name: 'WSQREPLAY',
          config: { deliver_subject: inbox, ack_policy: 'none', deliver_policy: 'all', replay_policy: 'instant', flow_control: false },
        });
        const ms = await done;
        c.close();
        return ms;
      },
    },
  };
}

// ------------------------------------------------------------------ RabbitMQ

/** RabbitMQ quorum queues, publisher confirms and manual acks, on the machine's broker. */
export function rabbitSides(port = 5672): { setup(): Promise<void>; durable: WorkSide } {
  const queue = 'wsq-bench-work';
  return {
    setup: async () => {
      const c = await AmqpClient.connect('127.0.0.1', port);
      await c.quorumQueue(queue);
      c.close();
    },
    durable: {
      publisher: async () => {
        const c = await AmqpClient.connect('127.0.0.1', port);
        await c.confirmSelect();
        return { publish: (p, done) => c.publish(queue, Buffer.from(p), done), close: () => c.close() };
      },
      consumer: async (prefetch, onMessage) => {
        const c = await AmqpClient.connect('127.0.0.1', port);
        await c.consume(queue, prefetch, (tag) => {
          c.ack(tag);
          onMessage();
        });
        return c;
      },
    },
  };
}

// ------------------------------------------------------------------ Mosquitto

let mqttIds = 0;

/** Mosquitto fan-out at QoS 0 over `ep`. */
export function mqttFanout(ep: Endpoint): FanoutSide {
  return {
    subscribe: async (onMessage) => {
      const c = await MqttClient.connect(ep, `wsq-bench-${process.pid}-${++mqttIds}`);
      c.onMessage = () => onMessage();
      await c.subscribe('bench/room');
      return c;
    },
    publisher: async () => {
      const c = await MqttClient.connect(ep, `wsq-bench-${process.pid}-${++mqttIds}`);
      return { publish: (p) => c.publish('bench/room', Buffer.from(p)), close: () => c.close() };
    },
  };
}

/** Idle MQTT connections over `ep`. */
export function mqttIdle(ep: Endpoint): IdleSide {
  return { open: () => MqttClient.connect(ep, `wsq-bench-idle-${process.pid}-${++mqttIds}`) };
}
