/**
 * The callers of `lease.ready()` waiting for a handle's first value: each with its timeout (on the handle's
 * {@link TimerSet}) and its abort signal. Shared by the Vault lease handle and the credential-source handle.
 */
import type { TimerSet } from '../clock.js';
import { parseOptions } from '../validation.js';
import { leaseReadyOptionsSchema } from './options.js';
import type { LeaseReadyOptions } from './types.js';

interface Waiter<S> {
  resolve: (value: S) => void;
  reject: (error: unknown) => void;
}

/** @internal Pending `ready()` calls of one handle. */
export class ReadyWaiters<S> {
  readonly #timers: TimerSet;
  #waiters: Array<Waiter<S>> = [];

  constructor(timers: TimerSet) {
    this.#timers = timers;
  }

  /**
   * A promise that settles with {@link resolveAll} / {@link rejectAll}, or rejects with `onTimeout()` after
   * `options.timeoutMs` (default `defaultTimeoutMs`), or with the signal's reason when it aborts. Invalid options
   * reject with `VAULT_CONFIG`.
   */
  wait(
    options: LeaseReadyOptions,
    defaultTimeoutMs: number,
    onTimeout: (timeoutMs: number) => unknown,
  ): Promise<S> {
    let timeoutMs: number;
    try {
      timeoutMs = parseOptions(leaseReadyOptionsSchema, options, 'lease.ready').timeoutMs ?? defaultTimeoutMs;
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise<S>((resolve, reject) => {
      const waiter: Waiter<S> = {
        resolve: (s) => {
          cleanup();
          resolve(s);
        },
        reject: (e) => {
          cleanup();
          reject(e);
        },
      };
      const timer = this.#timers.set(() => waiter.reject(onTimeout(timeoutMs)), timeoutMs);
      const onAbort = (): void => waiter.reject(options.signal?.reason);
      const cleanup = (): void => {
        this.#timers.clear(timer);
        options.signal?.removeEventListener('abort', onAbort);
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
      };
      if (options.signal?.aborted) {
        onAbort();
        return;
      }
      options.signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  /** Resolves every pending call with `value`. */
  resolveAll(value: S): void {
    for (const w of [...this.#waiters]) w.resolve(value);
  }

  /** Rejects every pending call with `error`. */
  rejectAll(error: unknown): void {
    for (const w of [...this.#waiters]) w.reject(error);
  }
}
