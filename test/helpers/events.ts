/** Waiting for an emitter's events in tests, always with a bound (never a hopeful sleep). */

/** Resolve with the first argument of the next `event` of `target`, or reject after `ms`. */
export function once<T = unknown>(target: { once(e: string, fn: (...a: any[]) => void): unknown }, event: string, ms = 5000): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "${event}" within ${ms} ms`)), ms);
    target.once(event, (arg: T) => {
      clearTimeout(timer);
      resolve(arg);
    });
  });
}

/** Resolve with every argument of the next `event` of an emitter with `on`/`off` (the SDK's), or reject after `ms`. */
export function next<A extends unknown[] = unknown[]>(target: { on(e: any, fn: any): unknown; off(e: any, fn?: any): unknown }, event: string, ms = 5000): Promise<A> {
  return new Promise<A>((resolve, reject) => {
    const timer = setTimeout(() => {
      target.off(event, fn);
      reject(new Error(`no "${event}" within ${ms} ms`));
    }, ms);
    const fn = (...args: A) => {
      clearTimeout(timer);
      target.off(event, fn);
      resolve(args);
    };
    target.on(event, fn);
  });
}
