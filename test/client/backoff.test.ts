import t from 'tap';
import { Backoff, backoffDelay } from '../../lib/client/backoff.js';

t.test('full jitter: delay = random × min(cap, base × 2^attempt)', async (t) => {
  const half = () => 0.5;
  t.equal(backoffDelay(0, { random: half }), 500, 'attempt 0: half of the 1 s base');
  t.equal(backoffDelay(1, { random: half }), 1000);
  t.equal(backoffDelay(2, { random: half }), 2000);
  t.equal(backoffDelay(3, { random: half }), 2500, 'capped at 5 s');
  t.equal(backoffDelay(50, { random: half }), 2500);
  t.equal(backoffDelay(100_000, { random: half }), 2500, 'huge attempt numbers stay finite');
  t.equal(backoffDelay(0, { random: () => 0 }), 0, 'full jitter reaches 0');
  t.equal(backoffDelay(10, { random: () => 0.999999 }), 4999, 'and stays below the cap');
  t.equal(backoffDelay(2, { baseMs: 10, capMs: 1000, random: () => 0.5 }), 20, 'base and cap are options');
  t.equal(backoffDelay(0, { random: () => 1.5 }), 0, 'a random source out of [0,1) is not trusted');
});

t.test('defaults: 1 s base, 5 s cap, unlimited attempts', async (t) => {
  const b = new Backoff({ random: () => 0.999 });
  const delays: number[] = [];
  for (let i = 0; i < 1000; i++) delays.push(b.next()!);
  t.equal(delays.length, 1000);
  t.ok(
    delays.every((d) => typeof d === 'number' && d >= 0 && d < 5000),
    'every delay within [0, 5000)',
  );
  t.equal(delays[0], 999);
  t.equal(b.attempts, 1000);
});

t.test('maxAttempts, then reset', async (t) => {
  const b = new Backoff({ maxAttempts: 2, random: () => 0.5 });
  t.equal(b.next(), 500);
  t.equal(b.next(), 1000);
  t.equal(b.next(), undefined, 'exhausted');
  t.equal(b.attempts, 2);
  b.reset();
  t.equal(b.attempts, 0);
  t.equal(b.next(), 500, 'starts over after a success');
  t.throws(() => new Backoff({ baseMs: -1 }), RangeError);
  t.throws(() => new Backoff({ maxAttempts: -1 }), RangeError);
});

t.test('the distribution is uniform over [0, ceiling)', async (t) => {
  let seed = 42;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const samples = Array.from({ length: 20_000 }, () => backoffDelay(1, { random }));
  const mean = samples.reduce((a, b) => a + b, 0) / samples.length;
  t.ok(Math.abs(mean - 1000) < 30, `mean ${mean.toFixed(1)} ≈ 1000 (half of the 2000 ms ceiling)`);
  t.ok(Math.max(...samples) < 2000);
});
