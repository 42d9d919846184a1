/**
 * The dev server's source of time. Every expiry (tokens, leases, response-wrapping tokens, AppRole secret IDs), every
 * schedule (static-role rotation, lease revocation retries) and every timestamp it reports goes through a
 * {@link Clock}, so that tests can inject a {@link ManualClock} and move time instead of sleeping.
 *
 * The interface is the same shape as `@leasehold/core`'s `Clock`, so one manual clock can drive a client and the
 * server in the same test.
 */

/** An opaque timer handle returned by {@link Clock.setTimeout}. */
export type TimerHandle = object;

/** A source of time and one-shot timers. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /**
   * Runs `fn` once after `ms` milliseconds (any length, including more than 2³¹−1 ms), never synchronously. The
   * timer must not keep the process alive (the system clock `unref()`s it). When `fn` returns a promise, a manual
   * clock waits for it before it fires the next timer.
   */
  setTimeout(fn: () => unknown, ms: number): TimerHandle;
  /** Cancels a timer started by {@link Clock.setTimeout}; unknown or fired handles are ignored. */
  clearTimeout(handle: TimerHandle): void;
}

/**
 * The longest delay a Node timer honours: `setTimeout` fires after 1 ms for anything above 2³¹−1 ms, see
 * https://nodejs.org/api/timers.html#settimeoutcallback-delay-args.
 */
const MAX_TIMER_DELAY_MS = 2_147_483_647;

/** A chain of `unref()`ed Node timeouts of at most {@link MAX_TIMER_DELAY_MS} each, re-armed until `at`. */
class ChainedTimer {
  private handle: NodeJS.Timeout | undefined;
  private cancelled = false;

  constructor(
    private readonly fn: () => unknown,
    private readonly at: number,
  ) {
    this.arm();
  }

  private arm(): void {
    const delay = Math.max(0, Math.min(this.at - Date.now(), MAX_TIMER_DELAY_MS));
    this.handle = setTimeout(() => {
      this.handle = undefined;
      if (this.cancelled) return;
      if (this.at - Date.now() > 0) this.arm();
      else void this.fn();
    }, delay);
    this.handle.unref();
  }

  cancel(): void {
    this.cancelled = true;
    if (this.handle) clearTimeout(this.handle);
    this.handle = undefined;
  }
}

/** A delay as a timer takes it: negative and `NaN` become 0 (next turn). */
function timerDelay(ms: number): number {
  return Number.isNaN(ms) ? 0 : Math.max(0, ms);
}

/** The real clock (the default): `Date.now()` and `unref()`ed Node timers of any length. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    return new ChainedTimer(fn, Date.now() + timerDelay(ms));
  },
  clearTimeout(handle) {
    if (handle instanceof ChainedTimer) handle.cancel();
  },
};

/** Whether `value` looks like a {@link Clock} (for option validation). */
export function isClock(value: unknown): value is Clock {
  if (typeof value !== 'object' || value === null) return false;
  const c = value as Record<string, unknown>;
  return (
    typeof c.now === 'function' && typeof c.setTimeout === 'function' && typeof c.clearTimeout === 'function'
  );
}

interface PendingTimer {
  readonly seq: number;
  readonly at: number;
  readonly fn: () => unknown;
}

/** Lets promise callbacks and I/O callbacks queued so far run (a few microtask turns and one macrotask turn). */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
  await new Promise<void>((resolve) => setImmediate(resolve));
}

/**
 * A clock that only moves when told to — for tests of code that uses the dev server (and of the dev server itself).
 * Pass it as `startDevServer({ clock })`; then `await clock.advance(60_000)` expires what a minute of real time would,
 * with no sleeping.
 *
 * - {@link advance} / {@link advanceTo} fire every timer that falls due, in order of due time, setting {@link now}
 *   to each timer's instant before it runs; timers due at the same instant start together (in creation order).
 *   When a timer's callback returns a promise (the dev server's do: a lease revocation that drops a PostgreSQL role,
 *   a static-role rotation), the clock waits for it before moving on to a later instant, so after
 *   `await clock.advance(ms)` the server has finished its work. A callback that throws or rejects makes the
 *   `advance` reject with that error (after the other timers of the instant have finished).
 * - Timers of any length work (years; there is no 2³¹−1 ms limit), none keeps the process alive, and the server's
 *   `close()` clears the ones it set.
 * - Time never goes backwards: {@link advanceTo} an earlier instant throws.
 *
 * The interface is the same as `@leasehold/core`'s `Clock`, so the same instance can drive a client too.
 *
 * @example
 * ```ts
 * const clock = new ManualClock();
 * const server = await startDevServer({ clock });
 * // … create a token with ttl=1h …
 * await clock.advance(3_600_000); // the token is now expired and revoked
 * ```
 */
export class ManualClock implements Clock {
  private current: number;
  private seq = 0;
  private readonly pending = new Set<PendingTimer>();
  private running: Promise<void> = Promise.resolve();

  /**
   * @param start - The initial time (ms since the epoch or a `Date`). Default: the real current time rounded down to
   *   a whole second (certificates the server issues then stay valid for TLS clients that use the real time).
   */
  constructor(start: number | Date = Math.floor(Date.now() / 1000) * 1000) {
    const ms = start instanceof Date ? start.getTime() : start;
    if (!Number.isFinite(ms))
      throw new TypeError('ManualClock: `start` must be a finite time in ms or a valid Date');
    this.current = ms;
  }

  /** The clock's current time in ms since the epoch. */
  now(): number {
    return this.current;
  }

  /** Schedules `fn` at `now() + ms` (negative or `NaN` → now; fires on the next advance, never synchronously). */
  setTimeout(fn: () => unknown, ms: number): TimerHandle {
    const timer: PendingTimer = { seq: ++this.seq, at: this.current + timerDelay(ms), fn };
    this.pending.add(timer);
    return timer;
  }

  /** Cancels a pending timer (unknown or fired handles are ignored). */
  clearTimeout(handle: TimerHandle): void {
    this.pending.delete(handle as PendingTimer);
  }

  /** How many timers are pending. */
  get pendingCount(): number {
    return this.pending.size;
  }

  /** The due time (ms since the epoch) of the next pending timer, or `undefined` when none is pending. */
  nextTimerAt(): number | undefined {
    return this.next()?.at;
  }

  /**
   * Moves time forward by `ms`, firing the timers that fall due in order and waiting for their async work.
   * Calls are serialized: a second `advance` starts where the first one ended.
   */
  advance(ms: number): Promise<void> {
    if (!Number.isFinite(ms) || ms < 0)
      return Promise.reject(
        new RangeError(`ManualClock.advance: \`ms\` must be a finite number ≥ 0, got ${ms}`),
      );
    return this.serialize(() => this.run(this.current + ms));
  }

  /** Moves time forward to `at` (ms since the epoch or a `Date`), as {@link advance} does. */
  advanceTo(at: number | Date): Promise<void> {
    const target = at instanceof Date ? at.getTime() : at;
    return this.serialize(() => {
      if (!Number.isFinite(target)) throw new RangeError('ManualClock.advanceTo: `at` must be a finite time');
      if (target < this.current)
        throw new RangeError(
          `ManualClock.advanceTo: cannot go back in time (now ${new Date(this.current).toISOString()}, asked ${new Date(target).toISOString()})`,
        );
      return this.run(target);
    });
  }

  /** Moves time to the next pending timer and fires it (and any others due at that instant); false when none is pending. */
  runNext(): Promise<boolean> {
    return this.serialize(async () => {
      await settle();
      const next = this.next();
      if (!next) return false;
      await this.run(Math.max(this.current, next.at));
      return true;
    });
  }

  private serialize<T>(work: () => T | Promise<T>): Promise<T> {
    const result = this.running.then(work);
    this.running = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  private next(): PendingTimer | undefined {
    let best: PendingTimer | undefined;
    for (const t of this.pending)
      if (!best || t.at < best.at || (t.at === best.at && t.seq < best.seq)) best = t;
    return best;
  }

  private async run(target: number): Promise<void> {
    for (;;) {
      // Let work started before (or by the previous timers) register its own timers first.
      await settle();
      const next = this.next();
      if (!next || next.at > target) break;
      // Every timer due at this instant starts together (in creation order), as they would on a real clock.
      const due = [...this.pending].filter((t) => t.at === next.at).sort((a, b) => a.seq - b.seq);
      for (const t of due) this.pending.delete(t);
      this.current = Math.max(this.current, next.at);
      const results = await Promise.allSettled(due.map(async (t) => t.fn()));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    }
    this.current = target;
    await settle();
  }
}
