/**
 * The KV secrets engine, versions 1 and 2 (Vault's `vault-plugin-secrets-kv`), in memory.
 * Version 2 is selected by the mount option `version: "2"` (or the mount type `kv-v2`).
 */
import {
  type Backend,
  type BackendContext,
  type BackendFactory,
  badRequest,
  errorResponse,
  getBool,
  getDuration,
  getInt,
  getMap,
  LogicalError,
  type LogicalRequest,
  type LogicalResponse,
  listResponse,
  noContent,
  type Operation,
  parseDurationSeconds,
  parseField,
  type RouteHandler,
  type RouteParams,
  Router,
  unsupportedOperation,
} from '../../sdk/index.js';
import { formatGoDuration } from '../../util/duration.js';

const INVALID_PATH_WARNING =
  "Invalid path for a versioned K/V secrets engine. See the API docs for the appropriate API endpoints to use. If using the Vault CLI, use 'vault kv get' for this operation.";
const ROOT_WARNING = 'Non-listing operations on the root of a K/V v2 mount are not supported.';
const DEFAULT_MAX_VERSIONS = 10;

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function iso(ms: number): string {
  return ms ? new Date(ms).toISOString() : '';
}

function clone<T>(value: T): T {
  return structuredClone(value);
}

/** Keys directly under `prefix` (folders end in `/`). */
function listChildren(keys: Iterable<string>, prefix: string): string[] {
  const out = new Set<string>();
  for (const key of keys) {
    if (!key.startsWith(prefix)) continue;
    const rest = key.slice(prefix.length);
    if (!rest) continue;
    const slash = rest.indexOf('/');
    out.add(slash < 0 ? rest : rest.slice(0, slash + 1));
  }
  return [...out].sort();
}

/** RFC 7396 JSON merge patch. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return clone(patch);
  const out: Json = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// KV v1
// ---------------------------------------------------------------------------------------------------------------

class KvV1 implements Backend {
  readonly type = 'kv';
  private readonly store = new Map<string, Json>();
  constructor(private readonly context: BackendContext) {}

  async exists(request: LogicalRequest): Promise<boolean> {
    return this.store.has(request.path);
  }

  /** Every key and value (for the upgrade to KV v2). */
  exportEntries(): [string, Json][] {
    return [...this.store].map(([k, v]) => [k, clone(v)]);
  }

  /** One path matching everything, as Vault's KV v1 (`framework.MatchAllRegex("path")`). */
  private readonly router = new Router([
    {
      pattern: /^(?<path>.*)$/s,
      operations: {
        list: async (_r, { path = '' }) => listResponse(listChildren(this.store.keys(), path)),
        read: async (_r, { path = '' }) => this.read(path),
        update: async (request, { path = '' }) => {
          if (!path) throw unsupportedOperation();
          if (Object.keys(request.data).length === 0) throw errorResponse('missing data fields');
          this.store.set(path, clone(request.data));
          return noContent();
        },
        delete: async (_r, { path = '' }) => {
          this.store.delete(path);
          return noContent();
        },
      },
    },
  ]);

  private read(path: string): LogicalResponse | null {
    const value = this.store.get(path);
    if (!value) return null;
    let leaseDuration = this.context.defaultLeaseTtl();
    const ttlField = value.ttl ?? value.lease;
    if (ttlField !== undefined) {
      try {
        const parsed = parseDurationSeconds(ttlField, 'ttl');
        if (parsed > 0) leaseDuration = parsed;
      } catch {
        // Vault ignores an unparsable advisory TTL.
      }
    }
    return {
      data: clone(value),
      leaseFields: { lease_id: '', lease_duration: leaseDuration, renewable: false },
    };
  }

  async handle(request: LogicalRequest): Promise<LogicalResponse | null> {
    return this.router.dispatch(request);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// KV v2
// ---------------------------------------------------------------------------------------------------------------

interface Version {
  data: Json | null;
  created: number;
  /** ms; 0 = not deleted (may be in the future for delete_version_after). */
  deletion: number;
  destroyed: boolean;
}

interface KeyMeta {
  versions: Map<number, Version>;
  current: number;
  oldest: number;
  maxVersions: number;
  casRequired: boolean;
  deleteVersionAfter: number;
  customMetadata: Record<string, string> | null;
  created: number;
  updated: number;
}

class KvV2 implements Backend {
  readonly type = 'kv';
  private readonly keys = new Map<string, KeyMeta>();
  private config = { maxVersions: 0, casRequired: false, deleteVersionAfter: 0 };
  constructor(private readonly context: BackendContext) {}

  private now(): number {
    return this.context.now();
  }

  /** Imports KV v1 entries as version 1 of each key (the upgrade from KV v1). */
  importEntries(entries: [string, Json][]): void {
    for (const [key, value] of entries) this.addVersion(key, this.newMeta(), value);
  }

  async exists(request: LogicalRequest): Promise<boolean> {
    const { path } = request;
    if (path.startsWith('data/')) {
      const meta = this.keys.get(path.slice(5));
      return !!meta && meta.current > 0;
    }
    if (path.startsWith('metadata/')) return this.keys.has(path.slice(9));
    return true;
  }

  private isDeleted(v: Version): boolean {
    return v.destroyed || (v.deletion !== 0 && v.deletion <= this.now());
  }

  private versionMeta(meta: KeyMeta, n: number, v: Version): Json {
    return {
      created_time: iso(v.created),
      custom_metadata: meta.customMetadata ? { ...meta.customMetadata } : null,
      deletion_time: iso(v.deletion),
      destroyed: v.destroyed,
      version: n,
    };
  }

  private effectiveMaxVersions(meta: KeyMeta): number {
    if (meta.maxVersions > 0 && (this.config.maxVersions === 0 || meta.maxVersions < this.config.maxVersions))
      return meta.maxVersions;
    return this.config.maxVersions > 0 ? this.config.maxVersions : DEFAULT_MAX_VERSIONS;
  }

  private effectiveDva(meta: KeyMeta): number {
    const a = meta.deleteVersionAfter;
    const b = this.config.deleteVersionAfter;
    if (a > 0 && b > 0) return Math.min(a, b);
    return a > 0 ? a : b;
  }

  private newMeta(): KeyMeta {
    const now = this.now();
    return {
      versions: new Map(),
      current: 0,
      oldest: 0,
      maxVersions: 0,
      casRequired: false,
      deleteVersionAfter: 0,
      customMetadata: null,
      created: now,
      updated: now,
    };
  }

  private parseVersions(data: Json): number[] {
    const versions = parseField('comma-int-slice', data.versions, 'versions') ?? [];
    if (versions.length === 0) throw badRequest('No version number provided');
    return versions;
  }

  /** Vault's KV v2 paths (https://github.com/hashicorp/vault-plugin-secrets-kv), each with its field schema. */
  private readonly router = new Router([
    {
      pattern: 'config',
      fields: {
        max_versions: { type: 'int' },
        cas_required: { type: 'bool' },
        delete_version_after: { type: 'signed-duration' },
      },
      operations: { read: (r) => this.handleConfig(r), update: (r) => this.handleConfig(r) },
    },
    {
      pattern: /^metadata(?:\/(?<path>.*))?$/s,
      fields: {
        max_versions: { type: 'int' },
        cas_required: { type: 'bool' },
        delete_version_after: { type: 'duration' },
        custom_metadata: { type: 'map' },
      },
      operations: {
        list: async (_r, { path = '' }) => listResponse(listChildren([...this.keys.keys()], path)),
        ...KvV2.keyed(['read', 'update', 'patch', 'delete'], (r, key) => this.handleMetadata(r, key)),
      },
    },
    {
      pattern: /^data(?:\/(?<path>.*))?$/s,
      fields: { version: { type: 'int' }, options: { type: 'map' }, data: { type: 'map' } },
      operations: KvV2.keyed(['read', 'update', 'patch', 'delete'], (r, key) => this.handleData(r, key)),
    },
    {
      pattern: /^(?<kind>delete|undelete|destroy)(?:\/(?<path>.*))?$/s,
      fields: { versions: { type: 'comma-int-slice' } },
      operations: KvV2.keyed(['update'], (r, key, params) => this.handleVersionOp(r, params.kind ?? '', key)),
    },
    {
      pattern: /^subkeys(?:\/(?<path>.*))?$/s,
      fields: { version: { type: 'int' }, depth: { type: 'int' } },
      operations: KvV2.keyed(['read'], (r, key) => this.handleSubkeys(r, key)),
    },
    {
      pattern: /^.*$/s,
      operations: Object.fromEntries(
        (['read', 'list', 'update', 'patch', 'delete'] as const).map((op) => [
          op,
          async () => ({ warnings: [INVALID_PATH_WARNING], statusCode: 404 }),
        ]),
      ),
    },
  ]);

  /**
   * Handlers for `operations` that need a key: the root of a path (`data/`, `data/dir/`) answers 404 with Vault's
   * warning instead.
   */
  private static keyed(
    operations: readonly Operation[],
    handler: (request: LogicalRequest, key: string, params: RouteParams) => LogicalResponse | null,
  ): Partial<Record<Operation, RouteHandler>> {
    const wrapped: RouteHandler = async (request, params) => {
      const key = params.path ?? '';
      if (!key || key.endsWith('/')) return { warnings: [ROOT_WARNING], statusCode: 404 };
      return handler(request, key, params);
    };
    return Object.fromEntries(operations.map((op) => [op, wrapped]));
  }

  async handle(request: LogicalRequest): Promise<LogicalResponse | null> {
    return this.router.dispatch(request);
  }

  private handleConfig(request: LogicalRequest): LogicalResponse | null {
    const { operation, data } = request;
    if (operation === 'read') {
      return {
        data: {
          cas_required: this.config.casRequired,
          delete_version_after: formatGoDuration(this.config.deleteVersionAfter),
          max_versions: this.config.maxVersions,
        },
      };
    }
    if (operation !== 'create' && operation !== 'update')
      throw new LogicalError(405, 'unsupported operation');
    // Vault stores max_versions as a uint32: a negative value wraps around.
    const maxVersions = getInt(data, 'max_versions');
    if (maxVersions !== undefined) this.config.maxVersions = maxVersions >>> 0;
    const cas = getBool(data, 'cas_required');
    if (cas !== undefined) this.config.casRequired = cas;
    // A signed duration here: negative disables the mount-wide delete_version_after.
    const dva = parseField('signed-duration', data.delete_version_after, 'delete_version_after');
    if (dva !== undefined) this.config.deleteVersionAfter = Math.max(0, dva);
    return null;
  }

  private checkCas(meta: KeyMeta | undefined, data: Json): void {
    const options = getMap(data, 'options') ?? {};
    const casRequired = this.config.casRequired || (meta?.casRequired ?? false);
    if (options.cas === undefined || options.cas === null) {
      if (casRequired) throw badRequest('check-and-set parameter required for this call');
      return;
    }
    let cas: number;
    try {
      cas = parseField('int', options.cas, 'cas') ?? 0;
    } catch {
      throw badRequest('error parsing check-and-set parameter');
    }
    // Vault compares uint64(cas) with the current version: a negative cas never matches.
    if (cas < 0 || cas !== (meta?.current ?? 0))
      throw badRequest('check-and-set parameter did not match the current version');
  }

  private addVersion(key: string, meta: KeyMeta, value: Json): LogicalResponse {
    const now = this.now();
    const n = meta.current + 1;
    const dva = this.effectiveDva(meta);
    const version: Version = {
      data: value,
      created: now,
      deletion: dva > 0 ? now + dva * 1000 : 0,
      destroyed: false,
    };
    meta.versions.set(n, version);
    meta.current = n;
    if (meta.oldest === 0) meta.oldest = n;
    meta.updated = now;
    const max = this.effectiveMaxVersions(meta);
    while (meta.versions.size > max) {
      const oldest = Math.min(...meta.versions.keys());
      meta.versions.delete(oldest);
    }
    meta.oldest = Math.min(...meta.versions.keys());
    this.keys.set(key, meta);
    return { data: this.versionMeta(meta, n, version) };
  }

  private handleData(request: LogicalRequest, key: string): LogicalResponse | null {
    const { operation, data } = request;
    const meta = this.keys.get(key);
    switch (operation) {
      case 'read': {
        if (!meta || meta.current === 0) return null;
        const requested = getInt(data, 'version') ?? 0;
        const n = requested > 0 ? requested : meta.current;
        const v = meta.versions.get(n);
        if (!v) return null;
        if (this.isDeleted(v)) {
          return { data: { data: null, metadata: this.versionMeta(meta, n, v) }, statusCode: 404 };
        }
        return { data: { data: clone(v.data), metadata: this.versionMeta(meta, n, v) } };
      }
      case 'create':
      case 'update': {
        if (!isObject(data.data)) throw badRequest('no data provided');
        this.checkCas(meta, data);
        return this.addVersion(key, meta ?? this.newMeta(), clone(data.data));
      }
      case 'patch': {
        if (!meta || meta.current === 0) return null;
        const current = meta.versions.get(meta.current);
        if (!current || this.isDeleted(current)) return null;
        if (!isObject(data.data)) throw badRequest('no data provided');
        this.checkCas(meta, data);
        return this.addVersion(key, meta, mergePatch(current.data, data.data) as Json);
      }
      case 'delete': {
        if (!meta) return null;
        const v = meta.versions.get(meta.current);
        if (v && !this.isDeleted(v)) {
          v.deletion = this.now();
          meta.updated = this.now();
        }
        return null;
      }
      default:
        throw new LogicalError(405, 'unsupported operation');
    }
  }

  private handleVersionOp(request: LogicalRequest, kind: string, key: string): LogicalResponse | null {
    if (request.operation !== 'create' && request.operation !== 'update')
      throw new LogicalError(405, 'unsupported operation');
    const versions = this.parseVersions(request.data);
    const meta = this.keys.get(key);
    if (!meta) return null;
    const now = this.now();
    for (const n of versions) {
      const v = meta.versions.get(n);
      if (!v || v.destroyed) continue;
      if (kind === 'delete') {
        if (v.deletion === 0 || v.deletion > now) v.deletion = now;
      } else if (kind === 'undelete') {
        v.deletion = 0;
      } else {
        v.destroyed = true;
        v.data = null;
      }
    }
    meta.updated = now;
    return null;
  }

  private handleMetadata(request: LogicalRequest, key: string): LogicalResponse | null {
    const { operation, data } = request;
    const meta = this.keys.get(key);
    switch (operation) {
      case 'read': {
        if (!meta) return null;
        const versions: Json = {};
        for (const [n, v] of [...meta.versions].sort((a, b) => a[0] - b[0])) {
          versions[String(n)] = {
            created_time: iso(v.created),
            deletion_time: iso(v.deletion),
            destroyed: v.destroyed,
          };
        }
        return {
          data: {
            cas_required: meta.casRequired,
            created_time: iso(meta.created),
            current_version: meta.current,
            custom_metadata: meta.customMetadata ? { ...meta.customMetadata } : null,
            delete_version_after: formatGoDuration(meta.deleteVersionAfter),
            max_versions: meta.maxVersions,
            oldest_version: meta.oldest,
            updated_time: iso(meta.updated),
            versions,
          },
        };
      }
      case 'create':
      case 'update':
      case 'patch': {
        if (operation === 'patch' && !meta) return null;
        const target = meta ?? this.newMeta();
        const maxVersions = getInt(data, 'max_versions');
        if (maxVersions !== undefined) target.maxVersions = maxVersions >>> 0;
        const cas = getBool(data, 'cas_required');
        if (cas !== undefined) target.casRequired = cas;
        const dva = getDuration(data, 'delete_version_after');
        if (dva !== undefined) target.deleteVersionAfter = dva;
        if (data.custom_metadata !== undefined) {
          if (data.custom_metadata !== null && !isObject(data.custom_metadata))
            throw badRequest('custom_metadata must be a map of strings');
          const incoming = (data.custom_metadata ?? {}) as Json;
          const base = operation === 'patch' ? { ...(target.customMetadata ?? {}) } : {};
          for (const [k, v] of Object.entries(incoming)) {
            if (v === null) delete base[k];
            else if (typeof v !== 'string')
              throw badRequest(`custom_metadata value for key "${k}" must be a string`);
            else base[k] = v;
          }
          if (Object.keys(base).length > 64) throw badRequest('custom_metadata can contain at most 64 keys');
          target.customMetadata = Object.keys(base).length ? base : null;
        }
        target.updated = this.now();
        this.keys.set(key, target);
        // Prune when max_versions was lowered.
        const max = this.effectiveMaxVersions(target);
        while (target.versions.size > max) target.versions.delete(Math.min(...target.versions.keys()));
        if (target.versions.size) target.oldest = Math.min(...target.versions.keys());
        return operation === 'patch' ? {} : null;
      }
      case 'delete':
        this.keys.delete(key);
        return null;
      default:
        throw new LogicalError(405, 'unsupported operation');
    }
  }

  private handleSubkeys(request: LogicalRequest, key: string): LogicalResponse | null {
    if (request.operation !== 'read') throw new LogicalError(405, 'unsupported operation');
    const meta = this.keys.get(key);
    if (!meta || meta.current === 0) return null;
    const requested = getInt(request.data, 'version') ?? 0;
    const depth = Math.max(0, getInt(request.data, 'depth') ?? 0);
    const n = requested > 0 ? requested : meta.current;
    const v = meta.versions.get(n);
    if (!v) return null;
    if (this.isDeleted(v))
      return { data: { subkeys: null, metadata: this.versionMeta(meta, n, v) }, statusCode: 404 };
    const walk = (value: Json, level: number): Json => {
      const out: Json = {};
      for (const [k, child] of Object.entries(value)) {
        out[k] = isObject(child) && (depth === 0 || level < depth) ? walk(child, level + 1) : null;
      }
      return out;
    };
    return { data: { subkeys: walk(v.data ?? {}, 1), metadata: this.versionMeta(meta, n, v) } };
  }
}

/** The `kv` engine factory: version from the mount option `version` (`1` default, `2` versioned). */
export const kvBackend: BackendFactory = (context) =>
  context.options.version === '2' ? new KvV2(context) : new KvV1(context);
