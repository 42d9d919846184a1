import type { Clock, RandomSource, TimerHandle } from '../../src/index.js';

interface Pending {
  id: number;
  at: number;
  fn: () => void;
}

/**
 * A manual clock for unit tests: time only moves through {@link advance} / {@link runNext}, and timers fire in
 * order. Shared by the token and lease unit tests.
 */
export class ManualClock implements Clock {
  #now: number;
  #seq = 0;
  #pending: Pending[] = [];

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const entry: Pending = { id: ++this.#seq, at: this.#now + Math.max(0, ms), fn };
    this.#pending.push(entry);
    return entry;
  }

  clearTimeout(handle: TimerHandle): void {
    this.#pending = this.#pending.filter((p) => p !== handle);
  }

  /** Pending timers, soonest first (delays relative to now). */
  pendingDelays(): number[] {
    return this.#sorted().map((p) => p.at - this.#now);
  }

  get pendingCount(): number {
    return this.#pending.length;
  }

  /** Moves time forward by `ms`, firing due timers in order; awaits microtasks between timers. */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    for (;;) {
      await flush();
      const next = this.#sorted()[0];
      if (!next || next.at > target) break;
      this.#pending = this.#pending.filter((p) => p !== next);
      this.#now = next.at;
      next.fn();
    }
    this.#now = target;
    await flush();
  }

  /** Fires the next timer (moving time to it); returns false when none is pending. */
  async runNext(): Promise<boolean> {
    await flush();
    const next = this.#sorted()[0];
    if (!next) return false;
    this.#pending = this.#pending.filter((p) => p !== next);
    this.#now = Math.max(this.#now, next.at);
    next.fn();
    await flush();
    return true;
  }

  #sorted(): Pending[] {
    return [...this.#pending].sort((a, b) => a.at - b.at || a.id - b.id);
  }
}

/** Lets pending promise callbacks run. */
export async function flush(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
  await new Promise<void>((resolve) => setImmediate(resolve));
}

/** A deterministic random source returning `value` (or cycling through `values`). */
export function fixedRandom(...values: number[]): RandomSource {
  let i = 0;
  const list = values.length > 0 ? values : [0.5];
  return () => list[i++ % list.length] ?? 0.5;
}
