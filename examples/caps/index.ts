/**
 * CAPS, the parcel-delivery queue from the class, on wsq:
 *
 * - vendors publish pickup orders into the work-queue room "pickups" (each with an
 *   idempotency key, so a resend after a lost ack is stored once);
 * - drivers are the consumer group "drivers" on "pickups": each order goes to exactly one
 *   driver; a driver acks it (its handler resolves) after publishing "in-transit" and
 *   "delivered" to the vendor's personal room "@vendor-<name>"; a handler that throws (the
 *   first driver to pick up F-2 gets a flat tyre) hands the order back (nack), and it is
 *   delivered again with attempt 2;
 * - a vendor that is offline misses nothing: its personal room is durable, so when it
 *   returns it gets every notice sent while it was away.
 *
 * Run: `npm run example:caps` (builds, then `node dist/examples/caps/index.js`). It starts a
 * server in-process (memory store) on a free loopback port, prints what happens line by
 * line, and exits by itself. `test/examples/caps.test.ts` runs it and checks the story.
 */
import { WsqServer } from '../../lib/index.js';
import { connect, type WsqClient } from '../../lib/client/index.js';

interface Order {
  id: string;
  vendor: string;
  parcel: string;
  to: string;
}

interface Notice {
  order: string;
  driver: string;
}

/** A notice as a vendor received it. */
interface Received extends Notice {
  kind: 'in-transit' | 'delivered';
}

const TIMEOUT_MS = 30_000;
const DRIVE_MS = 10;

const say = (line: string): void => console.log(line);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resolve once `cond()` holds, checked each time `poke()` is called; reject after `ms`. */
function waitable(cond: () => boolean, what: string, ms = TIMEOUT_MS): { done: Promise<void>; poke: () => void } {
  let poke = (): void => {};
  const done = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`caps: timed out waiting for ${what}`)), ms);
    timer.unref();
    poke = () => {
      if (!cond()) return;
      clearTimeout(timer);
      resolve();
    };
  });
  return { done, poke };
}

/** A vendor: a client whose identity `vendor-<name>` gives it the durable personal room `@vendor-<name>`. */
function vendor(url: string, name: string, notices: Received[], onNotice: () => void, note = ''): WsqClient {
  const client = connect(url, { client: `vendor-${name}` });
  for (const kind of ['in-transit', 'delivered'] as const) {
    client.on(kind, (n: Notice) => {
      notices.push({ ...n, kind });
      say(`vendor ${name}: notice: ${n.order} ${kind} (${n.driver})${note}`);
      onNotice();
    });
  }
  return client;
}

async function publishOrders(client: WsqClient, orders: Order[]): Promise<void> {
  for (const o of orders) {
    const ack = await client.emitWithAck('pickup', o, { room: 'pickups', key: o.id });
    say(`vendor ${o.vendor}: order ${o.id} (${o.parcel} to ${o.to}) queued at pickups offset ${ack.offset}`);
  }
}

export async function main(): Promise<void> {
  const hardStop = setTimeout(() => {
    console.error(`caps: did not finish within ${TIMEOUT_MS} ms`);
    process.exit(1);
  }, TIMEOUT_MS + 5_000);
  hardStop.unref();

  const server = new WsqServer({ namespaces: 'any', logger: () => {} });
  await server.listen({ port: 0, host: '127.0.0.1' });
  say(`server: listening on ${server.url} (memory store)`);
  const clients: WsqClient[] = [];

  const bakeryOrders: Order[] = [
    { id: 'B-1', vendor: 'bakery', parcel: 'sourdough', to: '12 Elm St' },
    { id: 'B-2', vendor: 'bakery', parcel: 'croissants', to: '3 Oak Ave' },
    { id: 'B-3', vendor: 'bakery', parcel: 'birthday cake', to: '9 Pine Rd' },
  ];
  const flowerOrders: Order[] = [
    { id: 'F-1', vendor: 'flowers', parcel: 'roses', to: '5 Birch Ln' },
    { id: 'F-2', vendor: 'flowers', parcel: 'tulips', to: '21 Cedar Ct' },
    { id: 'F-3', vendor: 'flowers', parcel: 'orchid', to: '8 Maple Dr' },
  ];
  const total = bakeryOrders.length + flowerOrders.length;

  // 1. The bakery publishes its orders before any driver is around, then goes offline.
  const bakeryNotices: Received[] = [];
  const bakery = vendor(server.url, 'bakery', bakeryNotices, () => {});
  await publishOrders(bakery, bakeryOrders);
  await bakery.close();
  say('vendor bakery: offline');

  // 2. Two drivers join the group "drivers": the waiting orders are shared between them.
  const delivered = new Map<string, string>();
  const allDelivered = waitable(() => delivered.size === total, 'every order to be delivered');
  let flatTyre = false;
  for (const name of ['driver-1', 'driver-2']) {
    say(`${name}: comes online, joins group "drivers"`);
    const driver = connect(server.url, { client: name, nackDelayMs: 0 });
    clients.push(driver);
    const pickups = driver.join('pickups', { group: 'drivers', prefetch: 1 });
    pickups.on('pickup', async (o: Order, msg) => {
      say(`${name}: picked up ${o.id} from ${o.vendor} (attempt ${msg.attempt})`);
      if (o.id === 'F-2' && !flatTyre) {
        flatTyre = true;
        say(`${name}: flat tyre! hands ${o.id} back (nack)`);
        throw new Error(`flat tyre with ${o.id}`); // the SDK nacks: the order goes back to the group
      }
      const room = `@vendor-${o.vendor}`;
      await driver.emitWithAck('in-transit', { order: o.id, driver: name } satisfies Notice, { room });
      say(`${name}: ${o.id} in transit`);
      await sleep(DRIVE_MS); // the drive
      await driver.emitWithAck('delivered', { order: o.id, driver: name } satisfies Notice, { room });
      say(`${name}: delivered ${o.id}`);
      if (delivered.has(o.id)) say(`${name}: WARNING ${o.id} was already delivered by ${delivered.get(o.id)}`);
      delivered.set(o.id, name);
      allDelivered.poke();
      // Returning acks the pickup: the group will not hand this order to anyone again.
    });
    pickups.on('error', (e) => {
      if (!/flat tyre/.test(e.message)) say(`${name}: error: ${e.message}`);
    });
    await pickups.ready();
  }

  // 3. The flower shop stays online and sees its notices live.
  const flowerNotices: Received[] = [];
  const flowersDone = waitable(() => flowerNotices.filter((n) => n.order.startsWith('F-')).length === 2 * flowerOrders.length, 'the flower shop notices');
  const flowers = vendor(server.url, 'flowers', flowerNotices, () => flowersDone.poke());
  clients.push(flowers);
  await publishOrders(flowers, flowerOrders);

  await allDelivered.done;
  await flowersDone.done;
  say(`all ${total} orders delivered`);

  // 4. The bakery comes back: every notice sent while it was away is waiting in @vendor-bakery.
  const bakeryBack = waitable(() => bakeryNotices.length === 2 * bakeryOrders.length, 'the bakery to get its notices');
  say('vendor bakery: back online');
  const bakery2 = vendor(server.url, 'bakery', bakeryNotices, () => bakeryBack.poke(), ' [sent while it was offline]');
  clients.push(bakery2);
  await bakeryBack.done;

  const byDriver = [...delivered].map(([o, d]) => `${o}→${d}`).join(', ');
  const bakeryDelivered = new Set(bakeryNotices.filter((n) => n.kind === 'delivered').map((n) => n.order));
  say(
    `summary: ${delivered.size} of ${total} orders delivered, each once (${byDriver}); the bakery got ${bakeryDelivered.size} of ${bakeryOrders.length} "delivered" notices after coming back`,
  );

  for (const c of clients) await c.close();
  await server.close();
  say('done');
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
