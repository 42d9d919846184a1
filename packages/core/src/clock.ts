/**
 * Time and randomness as injectable dependencies.
 *
 * Every timer the library starts goes through a {@link Clock}, so that unit tests can drive the renewal schedule
 * with a manual clock and so that every timer is `unref()`ed in one place: the library never keeps a process alive
 * by itself.
 */

/** An opaque timer handle returned by {@link Clock.setTimeout}. */
export type TimerHandle = { readonly __timer: unique symbol } | object;

/** The source of time for every schedule in the library. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /** Runs `fn` once after `ms` milliseconds. The system clock `unref()`s the timer. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /** Cancels a timer started by {@link Clock.setTimeout}; unknown or fired handles are ignored. */
  clearTimeout(handle: TimerHandle): void;
}

/** A uniform random number in `[0, 1)`. Used for jitter only (not security relevant). */
export type RandomSource = () => number;

/**
 * The longest delay a Node timer honours: `setTimeout` fires after 1 ms for anything above 2³¹−1 ms (about
 * 24.8 days), see https://nodejs.org/api/timers.html#settimeoutcallback-delay-args.
 */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/**
 * A {@link systemClock} timer: a chain of Node timeouts of at most {@link MAX_TIMER_DELAY_MS} each, re-armed until
 * the whole delay has passed, so a 1-year certificate or a 768 h lease waits as long as it should.
 */
class ChainedTimer {
  #timer: ReturnType<typeof setTimeout> | undefined;
  #cancelled = false;

  constructor(fn: () => void, ms: number) {
    this.#arm(fn, ms);
  }

  #arm(fn: () => void, remainingMs: number): void {
    const step = Math.min(remainingMs, MAX_TIMER_DELAY_MS);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#cancelled) return;
      // Counted down with Node's monotonic timers, not `Date.now()`: a wall-clock jump does not shift the end.
      if (remainingMs > step) this.#arm(fn, remainingMs - step);
      else fn();
    }, step);
    this.#timer.unref();
  }

  cancel(): void {
    this.#cancelled = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

/**
 * A delay as a timer can take it: negative and `NaN` become 0 (fire on the next turn), `Infinity` stays (never
 * fires; the chain re-arms forever).
 */
function timerDelay(ms: number): number {
  return Number.isNaN(ms) ? 0 : Math.max(0, ms);
}

/** The real clock: `Date.now()` and `unref()`ed Node timers that handle any delay (chained past 2³¹−1 ms). */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    return new ChainedTimer(fn, timerDelay(ms));
  },
  clearTimeout(handle) {
    if (handle instanceof ChainedTimer) handle.cancel();
    else clearTimeout(handle as ReturnType<typeof setTimeout>);
  },
};

/** `Math.random` as a {@link RandomSource}. */
export const defaultRandom: RandomSource = () => Math.random();

/**
 * A set of timers owned by one component, so that `close()` can clear all of them at once.
 * Timers remove themselves from the set when they fire.
 */
export class TimerSet {
  readonly #clock: Clock;
  readonly #timers = new Set<TimerHandle>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Starts a timer tracked by this set. */
  set(fn: () => void, ms: number): TimerHandle {
    const handle = this.#clock.setTimeout(() => {
      this.#timers.delete(handle);
      fn();
    }, ms);
    this.#timers.add(handle);
    return handle;
  }

  /** Clears one timer (no-op for `undefined` or an already fired timer). */
  clear(handle: TimerHandle | undefined): void {
    if (handle === undefined) return;
    this.#timers.delete(handle);
    this.#clock.clearTimeout(handle);
  }

  /** Clears every pending timer. */
  clearAll(): void {
    for (const handle of this.#timers) this.#clock.clearTimeout(handle);
    this.#timers.clear();
  }

  /** Number of pending timers (for tests and health). */
  get size(): number {
    return this.#timers.size;
  }
}

/**
 * Resolves after `ms` on `clock`, or rejects with the signal's reason when `signal` aborts first.
 * The timer is cleared on abort.
 */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clock.clearTimeout(handle);
      reject(signal?.reason);
    };
    const handle = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Settles like `promise`, unless `ms` pass first (rejects with `onTimeout()`) or `signal` aborts first (rejects
 * with its reason). The timer is cleared either way; a late rejection of `promise` is handled, never unhandled.
 */
export function within<T>(
  clock: Clock,
  promise: Promise<T>,
  ms: number,
  onTimeout: () => unknown,
  signal?: AbortSignal,
): Promise<T> {
  promise.catch(() => undefined);
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const done = (): void => {
      clock.clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    const onAbort = (): void => {
      done();
      reject(signal?.reason);
    };
    const timer = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      reject(onTimeout());
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        done();
        resolve(value);
      },
      (error: unknown) => {
        done();
        reject(error);
      },
    );
  });
}
