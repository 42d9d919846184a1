/**
 * The static-secret cache: memory only, TTL per entry, one request per key for concurrent misses (single
 * flight), and stale-if-error: when Vault fails with a transient error (unreachable, sealed, timeout, 5xx), a
 * cached value past its TTL is served for `staleIfErrorMs` more and the result says it is stale.
 */
import type { Clock } from '../clock.js';
import { VaultError, type VaultErrorCode } from '../errors.js';

/** Cache options (`createVault({ cache })`, or per `kv.get` call). */
export interface CacheOptions {
  /** How long a value is served without asking Vault, ms (default 60 000; 0 disables caching). */
  ttlMs?: number;
  /** How long past its TTL a value may be served while Vault fails transiently, ms (default 300 000). */
  staleIfErrorMs?: number;
  /** Most entries kept; the oldest are dropped first (default 1000). */
  maxEntries?: number;
}

/** Defaults of {@link CacheOptions}. */
export const CACHE_DEFAULTS = Object.freeze({ ttlMs: 60_000, staleIfErrorMs: 300_000, maxEntries: 1000 });

/** A value from the cache with its provenance. */
export interface Cached<V> {
  value: V;
  /** Whether it came from the cache rather than from this call's request. */
  cached: boolean;
  /** Served past its TTL because Vault failed (see {@link CacheOptions.staleIfErrorMs}). */
  stale: boolean;
  /** When it was fetched from Vault (ms since epoch). */
  fetchedAt: number;
}

interface Entry<V> {
  value: V;
  fetchedAt: number;
}

/** What happened, for events and metrics. */
export type CacheOutcome =
  | { type: 'hit' }
  | { type: 'miss' }
  | { type: 'stale'; ageMs: number; code: VaultErrorCode };

/** @internal A generic TTL cache with single flight and stale-if-error. */
export class SecretCache<V> {
  readonly #clock: Clock;
  readonly #defaults: Required<CacheOptions>;
  readonly #entries = new Map<string, Entry<V>>();
  readonly #flights = new Map<string, Promise<Entry<V>>>();

  constructor(clock: Clock, defaults: CacheOptions = {}) {
    this.#clock = clock;
    this.#defaults = { ...CACHE_DEFAULTS, ...defaults };
  }

  /** Serves `key` from the cache or through `fetch` (shared by concurrent callers). */
  async get(
    key: string,
    fetch: () => Promise<V>,
    options: CacheOptions = {},
    onOutcome: (o: CacheOutcome) => void = () => {},
  ): Promise<Cached<V>> {
    const ttlMs = options.ttlMs ?? this.#defaults.ttlMs;
    const staleMs = options.staleIfErrorMs ?? this.#defaults.staleIfErrorMs;
    const now = this.#clock.now();
    const entry = this.#entries.get(key);
    if (entry && ttlMs > 0 && now - entry.fetchedAt < ttlMs) {
      onOutcome({ type: 'hit' });
      return { value: entry.value, cached: true, stale: false, fetchedAt: entry.fetchedAt };
    }
    let flight = this.#flights.get(key);
    const joined = flight !== undefined;
    if (!flight) {
      onOutcome({ type: 'miss' });
      flight = (async () => {
        const value = await fetch();
        const fresh = { value, fetchedAt: this.#clock.now() };
        if (ttlMs > 0 || staleMs > 0) this.#store(key, fresh);
        return fresh;
      })();
      this.#flights.set(key, flight);
      flight.then(
        () => this.#flights.delete(key),
        () => this.#flights.delete(key),
      );
    }
    try {
      const fresh = await flight;
      return { value: fresh.value, cached: joined, stale: false, fetchedAt: fresh.fetchedAt };
    } catch (error) {
      const old = this.#entries.get(key);
      const at = this.#clock.now();
      if (old && VaultError.is(error) && error.retryable && at - old.fetchedAt < ttlMs + staleMs) {
        onOutcome({ type: 'stale', ageMs: at - old.fetchedAt, code: error.code });
        return { value: old.value, cached: true, stale: true, fetchedAt: old.fetchedAt };
      }
      throw error;
    }
  }

  /** Drops one key (after a write) or every key starting with `prefix` + `/`. */
  invalidate(key: string, options: { prefix?: boolean } = {}): void {
    if (!options.prefix) {
      this.#entries.delete(key);
      return;
    }
    for (const k of this.#entries.keys()) if (k === key || k.startsWith(`${key}`)) this.#entries.delete(k);
  }

  /** Drops everything. */
  clear(): void {
    this.#entries.clear();
  }

  /** Number of entries. */
  get size(): number {
    return this.#entries.size;
  }

  #store(key: string, entry: Entry<V>): void {
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    while (this.#entries.size > this.#defaults.maxEntries) {
      const oldest = this.#entries.keys().next().value;
      if (oldest === undefined) break;
      this.#entries.delete(oldest);
    }
  }
}
