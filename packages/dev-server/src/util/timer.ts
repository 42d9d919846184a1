/** setTimeout's maximum delay (a larger value fires immediately). */
const MAX_DELAY = 2_147_483_647;

/** A cancellable one-shot timer that may be longer than 24.8 days; always `unref()`ed. */
export interface LongTimer {
  clear(): void;
}

/** Calls `fn` at `at` (ms since epoch, judged by `Date.now()`), chaining timeouts for long delays. */
export function scheduleAt(at: number, fn: () => void): LongTimer {
  let handle: NodeJS.Timeout | undefined;
  let cleared = false;
  const arm = (): void => {
    if (cleared) return;
    const delay = at - Date.now();
    if (delay <= 0) {
      handle = undefined;
      fn();
      return;
    }
    handle = setTimeout(arm, Math.min(delay, MAX_DELAY));
    handle.unref();
  };
  // Never fire synchronously: callers register state first.
  handle = setTimeout(arm, Math.max(0, Math.min(at - Date.now(), MAX_DELAY)));
  handle.unref();
  return {
    clear() {
      cleared = true;
      if (handle) clearTimeout(handle);
    },
  };
}

/** Resolves after `ms` (any length; the timer is `unref()`ed). */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => {
    scheduleAt(Date.now() + Math.max(0, ms), resolve);
  });
}
