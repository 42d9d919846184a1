/**
 * `vault.kv`: KV v1 and v2 with the static-secret cache.
 *
 * - The mount's KV version is detected once per mount (`sys/internal/ui/mounts/:mount`, then `sys/mounts`), or
 *   given with `kvVersion`.
 * - `get()` is cached with a TTL; concurrent misses share one request; while Vault fails transiently a value
 *   past its TTL is served within the stale window and the result says `stale: true`.
 * - `watch()` polls KV v2 metadata and reports new versions (and drops the cached value).
 * - Writes (`put`, `patch`, `delete`, `undelete`, `destroy`) drop the cached value of the path.
 */

import { z } from 'zod';
import { type Cached, type CacheOptions, SecretCache } from '../cache/secret-cache.js';
import { TimerSet } from '../clock.js';
import { VaultError, VaultErrorCode } from '../errors.js';
import { Redacted } from '../redacted.js';
import { type AnswerOf, jsonObject, nonNegativeInt, parseResponse, strictBoolean } from '../validation.js';
import type { Vault } from '../vault.js';
import { checkMount, encodePath } from './common.js';

/** Which KV API a mount speaks. */
export type KvVersion = 1 | 2;

/** Mount selection, shared by every KV call. */
export interface KvMountOptions {
  /** Mount path (default `secret`). */
  mount?: string;
  /** Skip detection: the mount's KV version. */
  kvVersion?: KvVersion;
}

/** Options of {@link KvEngine.get}. */
export interface KvGetOptions extends KvMountOptions, CacheOptions {
  /** KV v2: read this version (default: the current one). */
  version?: number;
  /** `false` bypasses the cache (still single-flighted). Default true. */
  cache?: boolean;
}

/** Metadata of one KV v2 version. */
export interface KvVersionMetadata {
  version: number;
  createdTime: string;
  /** `''` unless deleted (or scheduled for deletion). */
  deletionTime: string;
  destroyed: boolean;
  customMetadata: Record<string, string> | null;
}

/** A secret read with {@link KvEngine.get}. */
export interface KvSecret<T> {
  /** The secret's key/value map (a secret: `.reveal()` it where it is used). */
  data: Redacted<T>;
  /** KV v2 version metadata (undefined on KV v1). */
  metadata: KvVersionMetadata | undefined;
  /** Served from the cache. */
  cached: boolean;
  /** Served past its TTL because Vault failed (within the stale window). */
  stale: boolean;
  /** When it was read from Vault (ms since epoch). */
  fetchedAt: number;
}

/** KV v2 key metadata (`metadata/:path`). */
export interface KvMetadata {
  currentVersion: number;
  oldestVersion: number;
  createdTime: string;
  updatedTime: string;
  maxVersions: number;
  casRequired: boolean;
  deleteVersionAfter: string;
  customMetadata: Record<string, string> | null;
  versions: Record<number, { createdTime: string; deletionTime: string; destroyed: boolean }>;
}

/** What {@link KvEngine.watch} reports. */
export interface KvChange {
  mount: string;
  path: string;
  /** The new current version. */
  version: number;
  /** The version seen before (undefined: the key did not exist). */
  previousVersion: number | undefined;
  metadata: KvMetadata;
}

/** Options of {@link KvEngine.watch}. */
export interface KvWatchOptions extends KvMountOptions {
  /** Poll interval, ms (default 30 000). */
  intervalMs?: number;
  /** Called when a poll fails (the watch keeps polling). */
  onError?: (error: VaultError) => void;
}

/** A running watch. */
export interface KvWatch {
  /** Resolves once the first poll has set the baseline. */
  readonly ready: Promise<void>;
  /** Stops polling. */
  stop(): void;
}

const time = z.string({ error: 'must be an RFC 3339 time or ""' });
const customMetadata = z.record(z.string(), z.string(), { error: 'must be an object of strings' }).nullish();

/** Version metadata of KV v2 (https://developer.hashicorp.com/vault/api-docs/secret/kv/kv-v2#read-secret-version). */
const versionMetaSchema = z.object({
  version: z.number({ error: 'must be a positive integer' }).int('must be a positive integer').positive(),
  created_time: time,
  deletion_time: time,
  destroyed: strictBoolean,
  custom_metadata: customMetadata,
});

type RawVersionMeta = z.output<typeof versionMetaSchema>;

/** KV v2 read: the secret (null when deleted/destroyed) and its version metadata. */
const readV2Answer = z.object({
  data: z.object({ data: jsonObject.nullable(), metadata: versionMetaSchema.nullable() }),
});

/** KV v2 key metadata (https://developer.hashicorp.com/vault/api-docs/secret/kv/kv-v2#read-secret-metadata). */
const metadataAnswer = z.object({
  data: z.object({
    current_version: nonNegativeInt,
    oldest_version: nonNegativeInt,
    created_time: time,
    updated_time: time,
    max_versions: nonNegativeInt,
    cas_required: strictBoolean,
    delete_version_after: z.string({ error: 'must be a Go duration' }),
    custom_metadata: customMetadata,
    versions: z.record(
      z.string(),
      z.object({ created_time: time, deletion_time: time, destroyed: strictBoolean }),
      { error: 'must be an object' },
    ),
  }),
});

type RawMetadata = z.output<typeof metadataAnswer>['data'];

/** KV v1 read and list answers. */
const readV1Answer = z.object({ data: jsonObject });
const listAnswer = z.object({
  data: z.object({ keys: z.array(z.string(), { error: 'must be a list of strings' }) }),
});

interface CachedSecret {
  data: Record<string, unknown>;
  metadata: KvVersionMetadata | undefined;
}

/** `vault.kv`. */
export class KvEngine {
  readonly #vault: Vault;
  readonly #cache: SecretCache<CachedSecret>;
  readonly #versions = new Map<string, Promise<KvVersion>>();
  readonly #timers: TimerSet;
  readonly #watches = new Set<() => void>();

  /** @internal */
  constructor(vault: Vault, cache: CacheOptions | undefined) {
    this.#vault = vault;
    this.#cache = new SecretCache(vault.clock, cache);
    this.#timers = new TimerSet(vault.clock);
  }

  /**
   * Reads a secret (cached). KV v2: `version` picks an older version. A missing key, or a deleted/destroyed
   * version, throws `VAULT_NOT_FOUND`.
   *
   * @example
   * ```ts
   * const { data, stale } = await vault.kv.get<{ apiKey: string }>('app/config');
   * client.setKey(data.reveal().apiKey);
   * ```
   */
  async get<T = Record<string, unknown>>(path: string, options: KvGetOptions = {}): Promise<KvSecret<T>> {
    const mount = this.#mount(options);
    const rel = checkPath(path);
    const key = `${mount}\u0000${rel}\u0000${options.version ?? ''}`;
    const cacheOptions: CacheOptions =
      options.cache === false
        ? { ttlMs: 0, staleIfErrorMs: 0 }
        : { ttlMs: options.ttlMs, staleIfErrorMs: options.staleIfErrorMs };
    const result: Cached<CachedSecret> = await this.#cache.get(
      key,
      () => this.#read(mount, rel, options),
      cacheOptions,
      (o) => {
        if (o.type === 'hit') this.#vault.emit('cache:hit', { mount, path: rel });
        else if (o.type === 'miss') this.#vault.emit('cache:miss', { mount, path: rel });
        else this.#vault.emit('cache:stale', { mount, path: rel, ageMs: o.ageMs, code: o.code });
      },
    );
    return {
      data: Redacted.of(result.value.data as T),
      metadata: result.value.metadata,
      cached: result.cached,
      stale: result.stale,
      fetchedAt: result.fetchedAt,
    };
  }

  /**
   * Writes a secret. KV v2: `cas` makes it a check-and-set (0 = only if absent; a mismatch throws
   * `VAULT_CAS_MISMATCH`) and the new version's metadata is returned; KV v1 returns undefined.
   */
  async put(
    path: string,
    data: Record<string, unknown>,
    options: KvMountOptions & { cas?: number } = {},
  ): Promise<KvVersionMetadata | undefined> {
    const mount = this.#mount(options);
    const rel = checkPath(path);
    checkData(data);
    const version = await this.#kvVersion(mount, options);
    this.#invalidate(mount, rel);
    if (version === 1) {
      await this.#vault.request('PUT', `${mount}/${encodePath(rel)}`, {
        body: data,
        template: `${mount}/:path`,
      });
      return undefined;
    }
    return this.#writeVersion('PUT', mount, rel, data, options.cas);
  }

  /** KV v2: merges `data` into the current version (JSON merge patch), creating a new version. */
  async patch(
    path: string,
    data: Record<string, unknown>,
    options: KvMountOptions & { cas?: number } = {},
  ): Promise<KvVersionMetadata | undefined> {
    const mount = this.#mount(options);
    const rel = checkPath(path);
    checkData(data);
    await this.#requireV2(mount, options, 'patch');
    return this.#writeVersion('PATCH', mount, rel, data, options.cas);
  }

  /** KV v2: writes (`PUT`) or merge-patches (`PATCH`) a new version; a lost check-and-set is `VAULT_CAS_MISMATCH`. */
  async #writeVersion(
    method: 'PUT' | 'PATCH',
    mount: string,
    rel: string,
    data: Record<string, unknown>,
    cas: number | undefined,
  ): Promise<KvVersionMetadata | undefined> {
    const body: Record<string, unknown> = { data };
    if (cas !== undefined) body.options = { cas };
    try {
      const path = `${mount}/data/${encodePath(rel)}`;
      const res = await this.#vault.request(method, path, { body, template: `${mount}/data/:path` });
      const answer = parseResponse(z.object({ data: versionMetaSchema }), res.body, {
        method,
        path,
        status: res.status,
      });
      return versionMeta(answer.data);
    } catch (error) {
      throw casError(error, mount, rel);
    } finally {
      this.#invalidate(mount, rel);
    }
  }

  /** Deletes a secret. KV v2: soft-deletes the latest version, or `versions` when given (undo with `undelete`). */
  async delete(path: string, options: KvMountOptions & { versions?: number[] } = {}): Promise<void> {
    const mount = this.#mount(options);
    const rel = checkPath(path);
    const version = await this.#kvVersion(mount, options);
    try {
      if (version === 1) {
        await this.#vault.request('DELETE', `${mount}/${encodePath(rel)}`, { template: `${mount}/:path` });
      } else if (options.versions && options.versions.length > 0) {
        await this.#vault.request('POST', `${mount}/delete/${encodePath(rel)}`, {
          body: { versions: options.versions },
          template: `${mount}/delete/:path`,
        });
      } else {
        await this.#vault.request('DELETE', `${mount}/data/${encodePath(rel)}`, {
          template: `${mount}/data/:path`,
        });
      }
    } finally {
      this.#invalidate(mount, rel);
    }
  }

  /** KV v2: restores soft-deleted `versions`. */
  async undelete(path: string, versions: number[], options: KvMountOptions = {}): Promise<void> {
    await this.#versionsOp('undelete', path, versions, options);
  }

  /** KV v2: permanently destroys `versions` (their data is purged). */
  async destroy(path: string, versions: number[], options: KvMountOptions = {}): Promise<void> {
    await this.#versionsOp('destroy', path, versions, options);
  }

  /** KV v2: deletes the key with every version and its metadata. */
  async deleteMetadata(path: string, options: KvMountOptions = {}): Promise<void> {
    const mount = this.#mount(options);
    const rel = checkPath(path);
    await this.#requireV2(mount, options, 'deleteMetadata');
    try {
      await this.#vault.request('DELETE', `${mount}/metadata/${encodePath(rel)}`, {
        template: `${mount}/metadata/:path`,
      });
    } finally {
      this.#invalidate(mount, rel);
    }
  }

  /** KV v2: the key's metadata and version history. Throws `VAULT_NOT_FOUND` for a missing key. */
  async metadata(path: string, options: KvMountOptions = {}): Promise<KvMetadata> {
    const mount = this.#mount(options);
    const rel = checkPath(path);
    await this.#requireV2(mount, options, 'metadata');
    const target = `${mount}/metadata/${encodePath(rel)}`;
    const res = await this.#vault.request('GET', target, { template: `${mount}/metadata/:path` });
    const answer = parseResponse(metadataAnswer, res.body, {
      method: 'GET',
      path: target,
      status: res.status,
    });
    return metadataFrom(answer.data);
  }

  /** Lists keys under `path` (folders end with `/`); an empty or missing folder gives `[]`. */
  async list(path = '', options: KvMountOptions = {}): Promise<string[]> {
    const mount = this.#mount(options);
    const rel = path.replace(/^\/+|\/+$/g, '');
    const version = await this.#kvVersion(mount, options);
    const target = version === 1 ? `${mount}/${encodePath(rel)}` : `${mount}/metadata/${encodePath(rel)}`;
    try {
      const res = await this.#vault.request('LIST', target.replace(/\/$/, ''), {
        template: version === 1 ? `${mount}/:path` : `${mount}/metadata/:path`,
      });
      return parseResponse(listAnswer, res.body, { method: 'LIST', path: target, status: res.status }).data
        .keys;
    } catch (error) {
      if (VaultError.is(error, VaultErrorCode.NOT_FOUND)) return [];
      throw error;
    }
  }

  /**
   * KV v2: polls the key's metadata every `intervalMs` and calls `onChange` when its current version changes
   * (the cached value is dropped first, so a `get()` inside `onChange` reads the new version).
   */
  watch(path: string, onChange: (change: KvChange) => void, options: KvWatchOptions = {}): KvWatch {
    const mount = this.#mount(options);
    const rel = checkPath(path);
    const intervalMs = options.intervalMs ?? 30_000;
    if (!Number.isInteger(intervalMs) || intervalMs <= 0) {
      throw new VaultError(
        VaultErrorCode.CONFIG,
        'Invalid option "intervalMs": must be a positive integer (ms).',
      );
    }
    let stopped = false;
    let last: number | undefined;
    let timer: ReturnType<TimerSet['set']> | undefined;
    const log = this.#vault.logger('kv');
    const poll = async (first: boolean): Promise<void> => {
      try {
        await this.#requireV2(mount, options, 'watch');
        let meta: KvMetadata | undefined;
        try {
          meta = await this.metadata(rel, { ...options, mount });
        } catch (error) {
          if (!VaultError.is(error, VaultErrorCode.NOT_FOUND)) throw error;
        }
        if (stopped) return;
        const current = meta?.currentVersion;
        if (!first && meta && current !== undefined && current !== last) {
          this.#invalidate(mount, rel);
          const change: KvChange = {
            mount,
            path: rel,
            version: current,
            previousVersion: last,
            metadata: meta,
          };
          try {
            onChange(change);
          } catch (error) {
            log.error({ path: rel, err: String(error) }, 'a kv.watch listener threw');
          }
        }
        last = current;
      } catch (error) {
        if (stopped) return;
        const err = VaultError.is(error)
          ? error
          : new VaultError(VaultErrorCode.UNAVAILABLE, 'kv.watch poll failed', { cause: error });
        log.warn({ mount, path: rel, code: err.code }, 'kv.watch poll failed; polling on');
        options.onError?.(err);
        if (first && err.code === VaultErrorCode.CONFIG) throw err;
      }
    };
    const schedule = (): void => {
      if (stopped) return;
      timer = this.#timers.set(() => {
        timer = undefined;
        poll(false).finally(schedule);
      }, intervalMs);
    };
    const stop = (): void => {
      stopped = true;
      this.#timers.clear(timer);
      this.#watches.delete(stop);
    };
    this.#watches.add(stop);
    const ready = poll(true).then(schedule, (error: unknown) => {
      stop();
      throw error;
    });
    ready.catch(() => undefined);
    return { ready, stop };
  }

  /** Drops the cached values of `path` (every version). */
  invalidate(path: string, options: KvMountOptions = {}): void {
    this.#invalidate(this.#mount(options), checkPath(path));
  }

  /** @internal Stops every watch and clears the cache (`vault.close()`). */
  close(): void {
    for (const stop of [...this.#watches]) stop();
    this.#timers.clearAll();
    this.#cache.clear();
  }

  // ── internals ───────────────────────────────────────────────────────────────────────────────────────────

  async #read(mount: string, rel: string, options: KvGetOptions): Promise<CachedSecret> {
    const kvVersion = await this.#kvVersion(mount, options);
    if (kvVersion === 1) {
      const path = `${mount}/${encodePath(rel)}`;
      const res = await this.#vault.request('GET', path, { template: `${mount}/:path` });
      const answer = parseResponse(readV1Answer, res.body, { method: 'GET', path, status: res.status });
      return { data: answer.data, metadata: undefined };
    }
    const path = `${mount}/data/${encodePath(rel)}`;
    const res = await this.#vault.request('GET', path, {
      query: options.version !== undefined ? { version: options.version } : undefined,
      template: `${mount}/data/:path`,
      acceptStatus: [404],
    });
    // A 404 may carry the metadata of a deleted or destroyed version (or nothing, for a missing key).
    const data =
      res.status === 404
        ? readV2Answer.safeParse(res.body).data?.data
        : parseResponse(readV2Answer, res.body, { method: 'GET', path, status: res.status }).data;
    const metadata = versionMeta(data?.metadata ?? undefined);
    if (res.status === 404 || !data?.data) {
      const which = options.version !== undefined ? `version ${options.version} of ` : '';
      const why = metadata?.destroyed
        ? ' is destroyed'
        : metadata?.deletionTime
          ? ' is deleted'
          : ' does not exist';
      throw new VaultError(VaultErrorCode.NOT_FOUND, `KV secret ${which}${mount}/${rel}${why}`, {
        status: 404,
        method: 'GET',
        path: `${mount}/data/${rel}`,
      });
    }
    return { data: data.data, metadata };
  }

  async #versionsOp(
    op: 'undelete' | 'destroy',
    path: string,
    versions: number[],
    options: KvMountOptions,
  ): Promise<void> {
    const mount = this.#mount(options);
    const rel = checkPath(path);
    if (
      !Array.isArray(versions) ||
      versions.length === 0 ||
      !versions.every((v) => Number.isInteger(v) && v > 0)
    ) {
      throw new VaultError(
        VaultErrorCode.CONFIG,
        `Invalid option "versions": must be a non-empty list of versions.`,
      );
    }
    await this.#requireV2(mount, options, op);
    try {
      await this.#vault.request('POST', `${mount}/${op}/${encodePath(rel)}`, {
        body: { versions },
        template: `${mount}/${op}/:path`,
      });
    } finally {
      this.#invalidate(mount, rel);
    }
  }

  #mount(options: KvMountOptions): string {
    return checkMount(options.mount ?? 'secret', 'mount');
  }

  async #requireV2(mount: string, options: KvMountOptions, op: string): Promise<void> {
    if ((await this.#kvVersion(mount, options)) !== 2) {
      throw new VaultError(
        VaultErrorCode.CONFIG,
        `kv.${op}() needs a KV v2 mount, and "${mount}" is KV v1. Use a KV v2 mount (type kv-v2).`,
      );
    }
  }

  /** The mount's KV version: given, or detected once (shared by concurrent callers). */
  #kvVersion(mount: string, options: KvMountOptions): Promise<KvVersion> {
    if (options.kvVersion !== undefined) {
      if (options.kvVersion !== 1 && options.kvVersion !== 2) {
        throw new VaultError(VaultErrorCode.CONFIG, 'Invalid option "kvVersion": must be 1 or 2.');
      }
      return Promise.resolve(options.kvVersion);
    }
    let known = this.#versions.get(mount);
    if (!known) {
      known = this.#detect(mount);
      this.#versions.set(mount, known);
      known.catch(() => this.#versions.delete(mount));
    }
    return known;
  }

  async #detect(mount: string): Promise<KvVersion> {
    type MountInfo = { type?: string; options?: { version?: string } | null };
    let firstError: unknown;
    try {
      const res = await this.#vault.request<MountInfo>('GET', `sys/internal/ui/mounts/${encodePath(mount)}`, {
        template: 'sys/internal/ui/mounts/:mount',
      });
      const info = res.body?.data;
      const path = `sys/internal/ui/mounts/${mount}`;
      if (info) return versionOf(info, mount, { method: 'GET', path, field: 'data' });
    } catch (error) {
      firstError = error;
      if (VaultError.is(error) && (error.retryable || error.code === VaultErrorCode.INVALID_RESPONSE)) {
        throw error;
      }
    }
    try {
      const res = await this.#vault.requestRaw<
        Record<string, MountInfo> & { data?: Record<string, MountInfo> }
      >('GET', 'sys/mounts', { template: 'sys/mounts' });
      const body = res.body ?? {};
      const inData = body.data?.[`${mount}/`];
      const info = inData ?? body[`${mount}/`];
      const field = `${inData ? 'data.' : ''}${mount}/`;
      if (info) return versionOf(info, mount, { method: 'GET', path: 'sys/mounts', field });
      throw new VaultError(
        VaultErrorCode.CONFIG,
        `No secrets engine is mounted at "${mount}/". Check the mount.`,
      );
    } catch (error) {
      const known = [VaultErrorCode.CONFIG, VaultErrorCode.INVALID_RESPONSE] as string[];
      if (VaultError.is(error) && (error.retryable || known.includes(error.code))) throw error;
      throw new VaultError(
        VaultErrorCode.CONFIG,
        `Could not detect the KV version of mount "${mount}" (no permission on sys/internal/ui/mounts or sys/mounts). Pass { kvVersion: 1 | 2 }.`,
        { cause: firstError ?? error },
      );
    }
  }

  #invalidate(mount: string, rel: string): void {
    this.#cache.invalidate(`${mount}\u0000${rel}\u0000`, { prefix: true });
  }
}

/** A mount's description (https://developer.hashicorp.com/vault/api-docs/system/mounts#list-mounted-secrets-engines). */
const mountInfo = z.object({
  type: z.string({ error: 'must be a string' }).optional(),
  options: z.object({ version: z.string({ error: 'must be a string' }).optional() }).nullish(),
});

function versionOf(raw: unknown, mount: string, answer: AnswerOf): KvVersion {
  const info = parseResponse(mountInfo, raw, answer);
  if (info.type === 'kv-v2') return 2;
  if (info.type !== undefined && info.type !== 'kv' && info.type !== 'generic') {
    throw new VaultError(
      VaultErrorCode.CONFIG,
      `Mount "${mount}" is a "${info.type}" engine, not KV. Pass the mount of a KV engine.`,
    );
  }
  return info.options?.version === '2' ? 2 : 1;
}

function checkPath(path: string): string {
  if (typeof path !== 'string') {
    throw new VaultError(
      VaultErrorCode.CONFIG,
      'Invalid option "path": must be a string such as "app/config".',
    );
  }
  const rel = path.replace(/^\/+|\/+$/g, '');
  if (rel.length === 0 || rel.includes('//')) {
    throw new VaultError(
      VaultErrorCode.CONFIG,
      'Invalid option "path": must be a secret path relative to the mount, such as "app/config".',
    );
  }
  return rel;
}

function checkData(data: unknown): void {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new VaultError(
      VaultErrorCode.CONFIG,
      'Invalid option "data": must be an object of key/value pairs.',
    );
  }
}

function versionMeta(raw: RawVersionMeta): KvVersionMetadata;
function versionMeta(raw: RawVersionMeta | undefined): KvVersionMetadata | undefined;
function versionMeta(raw: RawVersionMeta | undefined): KvVersionMetadata | undefined {
  if (!raw) return undefined;
  return {
    version: raw.version,
    createdTime: raw.created_time,
    deletionTime: raw.deletion_time,
    destroyed: raw.destroyed,
    customMetadata: raw.custom_metadata ?? null,
  };
}

function metadataFrom(raw: RawMetadata): KvMetadata {
  const versions: KvMetadata['versions'] = {};
  for (const [k, v] of Object.entries(raw.versions ?? {})) {
    versions[Number(k)] = {
      createdTime: v.created_time,
      deletionTime: v.deletion_time,
      destroyed: v.destroyed,
    };
  }
  return {
    currentVersion: raw.current_version,
    oldestVersion: raw.oldest_version,
    createdTime: raw.created_time,
    updatedTime: raw.updated_time,
    maxVersions: raw.max_versions,
    casRequired: raw.cas_required,
    deleteVersionAfter: raw.delete_version_after,
    customMetadata: raw.custom_metadata ?? null,
    versions,
  };
}

function casError(error: unknown, mount: string, rel: string): unknown {
  if (
    VaultError.is(error, VaultErrorCode.BAD_REQUEST) &&
    error.errors.some((e) => /check-and-set/i.test(e))
  ) {
    return new VaultError(
      VaultErrorCode.CAS_MISMATCH,
      `Check-and-set write of ${mount}/${rel} failed: ${error.errors.join('; ')}`,
      {
        status: error.status,
        errors: error.errors,
        method: error.method,
        path: error.path,
        cause: error,
        retryable: false,
      },
    );
  }
  return error;
}
