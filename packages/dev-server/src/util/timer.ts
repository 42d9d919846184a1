import { type Clock, systemClock } from './clock.js';

/** A cancellable one-shot timer that may be longer than 24.8 days; always `unref()`ed. */
export interface LongTimer {
  clear(): void;
}

/**
 * Calls `fn` at `at` (ms since epoch, judged by `clock.now()`; default the real clock), never synchronously: callers
 * register state first. Any delay works (the system clock chains timeouts past 2³¹−1 ms).
 */
export function scheduleAt(at: number, fn: () => unknown, clock: Clock = systemClock): LongTimer {
  const handle = clock.setTimeout(fn, at - clock.now());
  return {
    clear() {
      clock.clearTimeout(handle);
    },
  };
}

/** Resolves after `ms` on `clock` (default the real clock; any length; the timer is `unref()`ed). */
export function sleep(ms: number, clock: Clock = systemClock): Promise<void> {
  return new Promise((resolve) => {
    scheduleAt(clock.now() + Math.max(0, ms), resolve, clock);
  });
}
