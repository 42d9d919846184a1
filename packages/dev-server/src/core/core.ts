import { CubbyholeBackend } from '../backends/cubbyhole.js';
import { parseBool, parseDurationSeconds } from '../sdk/fields.js';
import {
  type Backend,
  type BackendContext,
  type BackendFactory,
  badRequest,
  LogicalError,
  type LogicalRequest,
  type Operation,
  type RequestToken,
} from '../sdk/index.js';
import { errorReply, jsonReply, type RawReply } from '../sdk/reply.js';
import { addressInCidrs } from '../util/cidr.js';
import type { Clock } from '../util/clock.js';
import { randomBase62, randomHex, uuid } from '../util/random.js';
import { type LongTimer, scheduleAt } from '../util/timer.js';
import { AuditBroker } from './audit.js';
import { Control } from './control.js';
import { LeaseRegistry, type LeaseRevocationOptions } from './leases.js';
import {
  isWithin,
  type NamespaceEntry,
  type NamespaceRef,
  NamespaceRegistry,
  normalizeNamespacePath,
  ROOT_NAMESPACE,
} from './namespaces.js';
import { Acl, DEFAULT_POLICY, type Policy, parsePolicy } from './policy.js';
import { SystemBackend } from './system.js';
import { type TokenEntry, TokenStore } from './tokens.js';
import { rfc3339 } from './ttl.js';
import {
  type DevServerLogger,
  type InternalResponse,
  type Mount,
  mountDefaultTtl,
  mountMaxTtl,
} from './types.js';

/** An HTTP request as the core sees it. */
export interface RawRequest {
  method: string;
  /** Path and query, e.g. `/v1/secret/data/foo?version=2`. */
  url: string;
  /** Lower-cased header names. */
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  remoteAddress: string;
  clientCertificate: Buffer | undefined;
}

/** A logical request as the pipeline dispatches it. */
interface DispatchRequest {
  method: string;
  operation: Operation;
  path: string;
  data: Record<string, unknown>;
  tokenId: string | undefined;
  wrapTtl: number;
  headers: Record<string, string | undefined>;
  remoteAddress: string;
  clientCertificate: Buffer | undefined;
}

/** What the pipeline learned of a request, for its audit entries. */
interface DispatchTrace {
  te?: TokenEntry;
  mount?: Mount;
  operation?: Operation;
}

/** Options of the core. */
export interface CoreOptions {
  rootToken: string;
  unsealKey: string;
  logger: DevServerLogger | undefined;
  secretEngines: Record<string, BackendFactory>;
  authMethods: Record<string, BackendFactory>;
  /** Retry rule for failed revocations of expired leases (default: Vault's). */
  leaseRevocation?: LeaseRevocationOptions;
  /** The source of time for every expiry, schedule and timestamp. */
  clock: Clock;
}

interface WrappedEntry {
  token: string;
  accessor: string;
  envelope: Record<string, unknown>;
  creationTime: number;
  ttl: number;
  creationPath: string;
  timer: LongTimer;
}

/** Message for a bad/expired/revoked token: both texts, as Vault ≥ 1.16 joins them into one multierror string. */
export const INVALID_TOKEN_MESSAGE = '2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n';

/**
 * Message for a valid token that its policies do not allow: Vault's `CheckToken` appends `ErrPermissionDenied` to a
 * multierror (https://github.com/hashicorp/vault/blob/main/vault/request_handling.go), so the text is the one-error
 * form.
 */
export const POLICY_DENIED_MESSAGE = '1 error occurred:\n\t* permission denied\n\n';

/** Sys paths that need `sudo` (Vault's `PathsSpecial.Root` of the system and token backends), as globs. */
const SUDO_PATHS = [
  'sys/auth/*',
  'sys/remount',
  'sys/audit',
  'sys/audit/*',
  'sys/raw',
  'sys/raw/*',
  'sys/rotate',
  'sys/config/cors',
  'sys/config/auditing/*',
  'sys/plugins/catalog/*',
  'sys/revoke-prefix/*',
  'sys/revoke-force/*',
  'sys/leases/revoke-prefix/*',
  'sys/leases/revoke-force/*',
  'sys/leases/lookup/*',
  'sys/seal',
  'sys/step-down',
  'auth/token/revoke-orphan',
  'auth/token/accessors/',
];

function isSudoPath(path: string): boolean {
  return SUDO_PATHS.some((p) => (p.endsWith('*') ? path.startsWith(p.slice(0, -1)) : path === p));
}

function matchesSpecial(patterns: readonly string[] | undefined, rel: string): boolean {
  if (!patterns) return false;
  return patterns.some((p) => (p.endsWith('*') ? rel.startsWith(p.slice(0, -1)) : rel === p));
}

function headerValue(headers: RawRequest['headers'], name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * @internal The dev server's core: mounts, tokens, policies, leases, wrapping, sealing and the request pipeline.
 * Reachable as {@link DevServer.core} for advanced tests; not a stable API.
 */
export class Core {
  readonly control = new Control();
  readonly leases: LeaseRegistry;
  readonly tokens: TokenStore;
  readonly policies = new Map<string, Policy>();
  readonly mounts = new Map<string, Mount>();
  readonly wrapped = new Map<string, WrappedEntry>();
  /** Audit devices: one broker for the whole server (namespace views share it). */
  readonly audit = new AuditBroker();
  /** When the (dev) barrier key was installed: the server's start (`sys/key-status`). */
  readonly keyInstallTime: number;
  /** Writes through the barrier (`sys/key-status` `encryptions`: counted per write request, an approximation). */
  readonly keyStats = { encryptions: 0 };
  private readonly cubbyhole = new CubbyholeBackend();
  readonly clusterId = uuid();
  readonly clusterName = `vault-cluster-${randomHex(4)}`;
  sealed = false;
  private closed = false;
  /** The namespace this core (or namespace view of it) serves; see {@link namespaces}. */
  readonly namespace: NamespaceRef = ROOT_NAMESPACE;
  /** Every namespace; each has a view of this core with its own mounts and policies. */
  readonly namespaces: NamespaceRegistry<Core>;

  constructor(readonly options: CoreOptions) {
    this.keyInstallTime = options.clock.now();
    this.leases = new LeaseRegistry({
      now: () => this.now(),
      clock: options.clock,
      log: (l, m, f) => this.log(l, m, f),
      isSealed: () => this.sealed,
      revocation: options.leaseRevocation,
    });
    this.tokens = new TokenStore({
      now: () => this.now(),
      clock: options.clock,
      isSealed: () => this.sealed,
      log: (l, m, f) => this.log(l, m, f),
      leases: this.leases,
      aclFor: (te) => this.aclFor(te),
      policyExists: (name, mount) => this.namespaces.of(mount.namespace).view.policies.has(name),
      onRevoke: (id) => this.cubbyhole.forget(id),
    });
    this.namespaces = new NamespaceRegistry<Core>(this, {
      makeView: (ref) => this.namespaceView(ref),
      destroy: (ns) => this.destroyNamespace(ns),
      conflictingMount: (parent, name) =>
        [...parent.view.mounts.keys()].find((path) => path.startsWith(name) || name.startsWith(path)),
    });
    this.policies.set('default', parsePolicy('default', DEFAULT_POLICY));
    const sys = this.addMount(
      'sys/',
      'system',
      'system',
      new SystemBackend(this),
      'system endpoints used for control, policy and debugging',
    );
    void sys;
    const tokenMount = this.addMount('auth/token/', 'token', 'auth', this.tokens, 'token based credentials');
    this.tokens.mount = tokenMount;
    this.addMount('cubbyhole/', 'cubbyhole', 'secret', this.cubbyhole, 'per-token private secret storage');
    this.tokens.create({
      id: options.rootToken,
      type: 'service',
      policies: ['root'],
      parent: undefined,
      meta: null,
      displayName: 'root',
      path: 'auth/token/root',
      numUses: 0,
      ttl: 0,
      explicitMaxTtl: 0,
      period: 0,
      maxTtl: 0,
      renewable: false,
      mount: tokenMount,
    });
  }

  /**
   * The core as seen from inside namespace `ref`: its own mounts (`sys/`, `auth/token/`, `cubbyhole/` as a new Vault
   * namespace has; no `secret/`) and policies (`default`); tokens, leases, wrapping and the clock are shared.
   */
  private namespaceView(ref: NamespaceRef): Core {
    const view = Object.create(this) as Core;
    const own = view as unknown as {
      mounts: Map<string, Mount>;
      policies: Map<string, Policy>;
      namespace: NamespaceRef;
    };
    own.mounts = new Map();
    own.policies = new Map([['default', parsePolicy('default', DEFAULT_POLICY)]]);
    own.namespace = ref;
    view.addMount(
      'sys/',
      'system',
      'system',
      new SystemBackend(view),
      'system endpoints used for control, policy and debugging',
    );
    const tokens = Object.create(this.tokens) as TokenStore;
    tokens.mount = view.addMount('auth/token/', 'token', 'auth', tokens, 'token based credentials');
    view.addMount('cubbyhole/', 'cubbyhole', 'secret', this.cubbyhole, 'per-token private secret storage');
    return view;
  }

  /** Namespace deletion: revokes its tokens and leases, closes its engines. */
  private async destroyNamespace(ns: NamespaceEntry<Core>): Promise<void> {
    await this.tokens.revokeByNamespace(ns.id);
    for (const mount of ns.view.mounts.values()) {
      await this.leases.revokePrefix(mount.path, { force: true, namespaceId: ns.id });
      if (mount.kind === 'system' || mount.path === 'auth/token/' || mount.path === 'cubbyhole/') continue;
      await mount.backend.close?.();
    }
    ns.view.mounts.clear();
    this.log('info', 'namespace deleted', { namespace: ns.path });
  }

  /** The server clock's current time (ms since the epoch). */
  now(): number {
    return this.options.clock.now();
  }

  log(level: 'debug' | 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>): void {
    this.options.logger?.(level, message, fields);
  }

  // -------------------------------------------------------------------------------------------------------------
  // Mounts
  // -------------------------------------------------------------------------------------------------------------

  private addMount(
    path: string,
    type: string,
    kind: Mount['kind'],
    backend: Backend,
    description = '',
  ): Mount {
    const mount: Mount = {
      path,
      type,
      kind,
      description,
      accessor: `${kind === 'auth' ? 'auth_' : ''}${type}_${randomHex(4)}`,
      uuid: uuid(),
      options: {},
      defaultLeaseTtl: 0,
      maxLeaseTtl: 0,
      local: false,
      sealWrap: false,
      backend,
      namespace: this.namespace,
    };
    this.mounts.set(path, mount);
    return mount;
  }

  /** The mount a path belongs to (longest prefix). */
  matchMount(path: string): Mount | undefined {
    let best: Mount | undefined;
    for (const mount of this.mounts.values()) {
      if (path.startsWith(mount.path) || `${path}/` === mount.path) {
        if (!best || mount.path.length > best.path.length) best = mount;
      }
    }
    return best;
  }

  /** Enables a secrets engine or auth method (`sys/mounts/:path`, `sys/auth/:path`). */
  async enableMount(params: {
    path: string;
    type: string;
    kind: 'secret' | 'auth';
    description?: string;
    options?: Record<string, string>;
    defaultLeaseTtl?: number;
    maxLeaseTtl?: number;
  }): Promise<Mount> {
    let type = params.type;
    const options = { ...(params.options ?? {}) };
    if (params.kind === 'secret' && type === 'kv-v2') {
      type = 'kv';
      options.version = '2';
    }
    if (params.kind === 'secret' && (type === 'kv' || type === 'generic') && !options.version)
      options.version = '1';
    const clean = params.path.replace(/^\/+|\/+$/g, '');
    if (!clean) throw badRequest('missing mount path');
    const fullPath = `${params.kind === 'auth' ? 'auth/' : ''}${clean}/`;
    const reserved = params.kind === 'secret' ? ['sys/', 'auth/', 'cubbyhole/', 'identity/'] : [];
    for (const r of reserved)
      if (fullPath.startsWith(r)) throw badRequest(`cannot mount under reserved path "${r}"`);
    for (const existing of this.mounts.keys()) {
      if (fullPath.startsWith(existing) || existing.startsWith(fullPath))
        throw badRequest(
          `path is already in use at ${existing.startsWith('auth/') && params.kind === 'auth' ? existing.slice(5) : existing}`,
        );
    }
    const factories = params.kind === 'auth' ? this.options.authMethods : this.options.secretEngines;
    const factory = factories[type];
    if (!factory) throw badRequest(`plugin not found in the catalog: ${type}`);
    const mount: Mount = {
      path: fullPath,
      type,
      kind: params.kind,
      description: params.description ?? '',
      accessor: `${params.kind === 'auth' ? 'auth_' : ''}${type}_${randomHex(4)}`,
      uuid: uuid(),
      options,
      defaultLeaseTtl: params.defaultLeaseTtl ?? 0,
      maxLeaseTtl: params.maxLeaseTtl ?? 0,
      local: false,
      sealWrap: false,
      backend: undefined as unknown as Backend,
      namespace: this.namespace,
    };
    mount.backend = await factory(this.contextFor(mount));
    this.mounts.set(fullPath, mount);
    this.log('info', 'mounted', { path: fullPath, type });
    return mount;
  }

  private contextFor(mount: Mount): BackendContext {
    // The mount's path is read at each use: `sys/remount` may move it.
    return {
      get mountPath() {
        return mount.path;
      },
      options: mount.options,
      defaultLeaseTtl: () => mountDefaultTtl(mount),
      maxLeaseTtl: () => mountMaxTtl(mount),
      now: () => this.now(),
      clock: this.options.clock,
      revokeLeasesWithPrefix: (prefix) =>
        this.leases.revokePrefix(`${mount.path}${prefix}`, { force: true, namespaceId: this.namespace.id }),
      log: (level, message, fields) => this.log(level, message, { mount: mount.path, ...fields }),
    };
  }

  /**
   * Applies a change of mount options from `sys/mounts/:path/tune`. For KV, `version` 1 → 2 upgrades the mount
   * (every key becomes version 1 of a versioned key, as `vault kv enable-versioning` does); 2 → 1 is refused.
   */
  async tuneOptions(mount: Mount, options: Record<string, string>): Promise<void> {
    const merged = { ...mount.options, ...options };
    if (mount.type === 'kv' && merged.version !== mount.options.version) {
      if (merged.version !== '2' || mount.options.version === '2')
        throw badRequest('cannot downgrade mount from KV version 2');
      const old = mount.backend as Backend & { exportEntries?(): [string, Record<string, unknown>][] };
      mount.options = merged;
      const upgraded = (await this.options.secretEngines.kv?.(this.contextFor(mount))) as
        | (Backend & { importEntries?(entries: [string, Record<string, unknown>][]): void })
        | undefined;
      if (!upgraded) throw badRequest('plugin not found in the catalog: kv');
      upgraded.importEntries?.(old.exportEntries?.() ?? []);
      mount.backend = upgraded;
      await old.close?.();
      return;
    }
    mount.options = merged;
  }

  /**
   * Moves a mount (`sys/remount`): `from`/`to` with trailing slash (`auth/` prefix for auth methods). Leases under the
   * old path are revoked (and the tokens of an auth method), as Vault's `vault secrets move` / `vault auth move`.
   * Returns the migration ID.
   */
  async remount(from: string, to: string): Promise<string> {
    const protectedPaths = ['sys/', 'auth/token/', 'cubbyhole/', 'identity/'];
    if (protectedPaths.some((p) => from.startsWith(p))) throw badRequest(`cannot remount "${from}"`);
    if (protectedPaths.some((p) => to.startsWith(p)) || to === 'auth/')
      throw badRequest(`cannot remount to destination "${to}"`);
    const mount = this.mounts.get(from);
    if (!mount) throw badRequest(`no matching mount at "${from}"`);
    if (from.startsWith('auth/') !== to.startsWith('auth/'))
      throw badRequest(
        from.startsWith('auth/')
          ? `cannot remount auth mount to non-auth mount "${to}"`
          : `cannot remount non-auth mount to auth mount "${to}"`,
      );
    for (const existing of this.mounts.keys()) {
      if (existing === from) continue;
      if (to.startsWith(existing) || existing.startsWith(to))
        throw badRequest(`path already in use at "${existing}"`);
    }
    await this.leases.revokePrefix(from, { force: true, namespaceId: this.namespace.id });
    if (mount.kind === 'auth') await this.tokens.revokeByMount(mount);
    this.mounts.delete(from);
    mount.path = to;
    this.mounts.set(to, mount);
    this.log('info', 'remounted', { from, to });
    return uuid();
  }

  /** Disables a mount: revokes its leases (and tokens for auth mounts), closes the backend. */
  async disableMount(fullPath: string): Promise<void> {
    const mount = this.mounts.get(fullPath);
    if (!mount) return;
    if (mount.kind === 'system' || fullPath === 'auth/token/' || fullPath === 'cubbyhole/')
      throw badRequest(`cannot unmount "${fullPath}"`);
    // As Vault's unmount: a lease whose revocation fails stops the unmount (400), so that no credential is forgotten.
    await this.leases.revokePrefix(fullPath, { namespaceId: this.namespace.id });
    if (mount.kind === 'auth') await this.tokens.revokeByMount(mount);
    this.mounts.delete(fullPath);
    await mount.backend.close?.();
    this.log('info', 'unmounted', { path: fullPath });
  }

  // -------------------------------------------------------------------------------------------------------------
  // Policies
  // -------------------------------------------------------------------------------------------------------------

  /** Writes an ACL policy (HCL or JSON); 400 on a parse error or for `root`. */
  writePolicy(name: string, text: string): void {
    const lname = name.toLowerCase();
    if (lname === 'root') throw badRequest('cannot update "root" policy');
    this.policies.set(lname, parsePolicy(lname, text));
  }

  /** The ACL of a token: its policies as defined in the token's own namespace. */
  aclFor(te: TokenEntry): Acl {
    if (te.policies.includes('root')) return new Acl([], true);
    const policies = this.namespaces.of(te.mount.namespace).view.policies;
    const list: Policy[] = [];
    for (const name of te.policies) {
      const p = policies.get(name);
      if (p) list.push(p);
    }
    return new Acl(list);
  }

  // -------------------------------------------------------------------------------------------------------------
  // Response wrapping
  // -------------------------------------------------------------------------------------------------------------

  /** Stores an envelope in a single-use wrapping token and returns the `wrap_info` reply body. */
  wrap(envelope: Record<string, unknown>, ttl: number, creationPath: string): Record<string, unknown> {
    const token = `hvs.${randomBase62(24)}`;
    const accessor = randomBase62(24);
    const now = this.now();
    const entry: WrappedEntry = {
      token,
      accessor,
      envelope,
      creationTime: now,
      ttl,
      creationPath,
      timer: scheduleAt(now + ttl * 1000, () => this.wrapped.delete(token), this.options.clock),
    };
    this.wrapped.set(token, entry);
    const auth = envelope.auth as Record<string, unknown> | null;
    const wrapInfo: Record<string, unknown> = {
      token,
      accessor,
      ttl,
      creation_time: rfc3339(now),
      creation_path: creationPath,
    };
    if (auth && typeof auth.accessor === 'string') wrapInfo.wrapped_accessor = auth.accessor;
    return {
      request_id: '',
      lease_id: '',
      renewable: false,
      lease_duration: 0,
      data: null,
      wrap_info: wrapInfo,
      warnings: null,
      auth: null,
    };
  }

  /** A live wrapping token entry. */
  wrappedEntry(token: string | undefined): WrappedEntry | undefined {
    if (!token) return undefined;
    const entry = this.wrapped.get(token);
    if (!entry) return undefined;
    if (entry.creationTime + entry.ttl * 1000 <= this.now()) {
      this.wrapped.delete(token);
      entry.timer.clear();
      return undefined;
    }
    return entry;
  }

  /** Consumes a wrapping token (single use). */
  unwrap(token: string | undefined): Record<string, unknown> {
    const entry = this.wrappedEntry(token);
    if (!entry) throw badRequest('wrapping token is not valid or does not exist');
    this.wrapped.delete(entry.token);
    entry.timer.clear();
    return entry.envelope;
  }

  // -------------------------------------------------------------------------------------------------------------
  // Seal
  // -------------------------------------------------------------------------------------------------------------

  seal(): void {
    this.sealed = true;
    this.log('info', 'sealed');
  }

  /** Unseals with the key; throws 400 on a wrong key. */
  unseal(key: string): void {
    if (key !== this.options.unsealKey) throw badRequest('Unseal failed, invalid key');
    this.sealed = false;
    this.log('info', 'unsealed');
    // Vault's expiration manager restarts on unseal: what ran out during the seal is revoked now.
    this.tokens.resumeExpiry();
    this.leases.resumeExpiry();
  }

  // -------------------------------------------------------------------------------------------------------------
  // Request pipeline
  // -------------------------------------------------------------------------------------------------------------

  /** Handles one HTTP request under `/v1/`. `path` is the decoded path after `/v1/`. */
  async handleVault(raw: RawRequest, path: string, query: URLSearchParams): Promise<RawReply> {
    const method = raw.method.toUpperCase();
    const system = this.mounts.get('sys/')?.backend as SystemBackend;
    if (path === 'sys/health') return system.health(method, query);
    if (path === 'sys/seal-status') {
      if (method !== 'GET') return errorReply(405, []);
      return jsonReply(200, system.sealStatus());
    }
    if (path === 'sys/init') return system.init(method);
    if (path === 'sys/leader') return system.leader(method);
    if (this.sealed && path !== 'sys/unseal') return errorReply(503, ['Vault is sealed']);

    // The namespace: the X-Vault-Namespace header, then leading path segments naming (nested) namespaces.
    let base = this.namespaces.root;
    const namespaceHeader = headerValue(raw.headers, 'x-vault-namespace');
    if (namespaceHeader !== undefined && normalizeNamespacePath(namespaceHeader) !== '') {
      const found = this.namespaces.get(namespaceHeader);
      if (!found)
        return errorReply(404, [
          `no handler for route "${normalizeNamespacePath(namespaceHeader)}${path}". route entry not found.`,
        ]);
      base = found;
    }
    const resolved = this.namespaces.resolve(base, path);
    const target = resolved.ns.view;
    path = resolved.rest;

    let operation: Operation;
    let logicalPath = path;
    switch (method) {
      case 'GET':
      case 'HEAD': {
        operation = 'read';
        const list = query.get('list');
        if (list !== null) {
          let isList: boolean | undefined;
          try {
            isList = parseBool(list, 'list');
          } catch {
            return errorReply(400, [`error parsing 'list' query parameter: invalid syntax`]);
          }
          query.delete('list');
          if (isList) operation = 'list';
        }
        break;
      }
      case 'LIST':
        operation = 'list';
        break;
      case 'POST':
      case 'PUT':
        operation = 'update';
        break;
      case 'PATCH': {
        const ct = (headerValue(raw.headers, 'content-type') ?? '').split(';')[0]?.trim().toLowerCase();
        if (ct !== 'application/merge-patch+json')
          return errorReply(415, [
            `PATCH requires Content-Type of application/merge-patch+json, provided ${ct || 'none'}`,
          ]);
        operation = 'patch';
        break;
      }
      case 'DELETE':
        operation = 'delete';
        break;
      default:
        return errorReply(405, ['unsupported operation']);
    }
    if (operation === 'list' && !logicalPath.endsWith('/')) logicalPath += '/';

    // Body and query → data.
    let data: Record<string, unknown> = {};
    if (operation === 'read' || operation === 'list' || operation === 'delete') {
      for (const key of new Set(query.keys())) {
        const values = query.getAll(key);
        data[key] = values.length === 1 ? values[0] : values;
      }
    }
    if (raw.body.length > 0 && method !== 'GET' && method !== 'HEAD' && method !== 'LIST') {
      const ct = (headerValue(raw.headers, 'content-type') ?? '').split(';')[0]?.trim().toLowerCase();
      const text = raw.body.toString('utf8');
      const trimmed = text.trimStart();
      if (
        ct === 'application/x-www-form-urlencoded' &&
        !trimmed.startsWith('{') &&
        !trimmed.startsWith('[')
      ) {
        const form = new URLSearchParams(text);
        for (const key of new Set(form.keys())) {
          const values = form.getAll(key);
          data[key] = values.length === 1 ? values[0] : values;
        }
      } else if (trimmed.length > 0) {
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          return errorReply(400, ['error parsing JSON']);
        }
        if (parsed !== null) {
          if (typeof parsed !== 'object' || Array.isArray(parsed))
            return errorReply(400, ['error parsing JSON']);
          data = { ...data, ...(parsed as Record<string, unknown>) };
        }
      }
    }

    // Response wrapping request.
    let wrapTtl = 0;
    const wrapHeader = headerValue(raw.headers, 'x-vault-wrap-ttl');
    if (wrapHeader !== undefined && wrapHeader !== '') {
      try {
        wrapTtl = parseDurationSeconds(wrapHeader, 'X-Vault-Wrap-TTL');
      } catch (error) {
        return errorReply(400, [
          `error parsing X-Vault-Wrap-TTL header: ${(error as LogicalError).errors?.join('; ') ?? 'invalid'}`,
        ]);
      }
      if (wrapTtl < 0) return errorReply(400, ['requested wrap ttl cannot be negative']);
    }

    const xToken = headerValue(raw.headers, 'x-vault-token');
    const bearer = /^Bearer\s+(.+)$/i.exec(headerValue(raw.headers, 'authorization') ?? '')?.[1]?.trim();
    const tokenId = xToken || bearer || undefined;

    const headers: Record<string, string | undefined> = {};
    for (const [k, v] of Object.entries(raw.headers)) {
      if (k === 'x-vault-token' || k === 'authorization') continue;
      headers[k] = Array.isArray(v) ? v.join(', ') : v;
    }

    return target.dispatch({
      method,
      operation,
      path: logicalPath,
      data,
      tokenId,
      wrapTtl,
      headers,
      remoteAddress: raw.remoteAddress,
      clientCertificate: raw.clientCertificate,
    });
  }

  private isUnauthenticated(
    mount: Mount,
    rel: string,
    data: Record<string, unknown>,
    tokenId?: string,
  ): boolean {
    if (mount.path === 'sys/') {
      if (['unseal', 'wrapping/lookup', 'internal/ui/mounts'].includes(rel)) return true;
      if (rel.startsWith('internal/ui/mounts/')) return true;
      if (rel === 'wrapping/unwrap' && !data.token && tokenId && !this.tokens.lookup(tokenId)) return true;
      return false;
    }
    return matchesSpecial(mount.backend.unauthenticatedPaths, rel);
  }

  /** Handles one logical request and writes its audit entries (when a device is enabled). */
  private async dispatch(req: DispatchRequest): Promise<RawReply> {
    if (!this.audit.enabled) return this.dispatchLogical(req, {});
    const time = new Date(this.now()).toISOString();
    const trace: DispatchTrace = {};
    const data = req.data;
    const tokenId = req.tokenId;
    const reply = await this.dispatchLogical(req, trace);
    let body: Record<string, unknown> | undefined;
    if (reply.body.length > 0 && (reply.headers['content-type'] ?? '').includes('json')) {
      try {
        const parsed: unknown = JSON.parse(reply.body.toString());
        if (parsed && typeof parsed === 'object' && !Array.isArray(parsed))
          body = parsed as Record<string, unknown>;
      } catch {
        body = undefined;
      }
    }
    const te = trace.te;
    const mount = trace.mount;
    try {
      this.audit.log({
        time,
        auth: te
          ? {
              clientToken: te.id,
              accessor: te.accessor,
              displayName: te.displayName,
              policies: [...te.policies],
              metadata: te.meta,
              entityId: te.entityId ?? '',
              tokenType: te.type,
              ttl: te.ttl,
              issueTime: rfc3339(te.creationTime),
            }
          : undefined,
        request: {
          id: typeof body?.request_id === 'string' ? body.request_id : uuid(),
          operation: trace.operation ?? req.operation,
          path: req.path,
          data,
          clientToken: tokenId ?? '',
          mount: mount
            ? { path: mount.path, type: mount.type, accessor: mount.accessor, kind: mount.kind }
            : undefined,
          namespace: { id: this.namespace.id, path: this.namespace.path },
          remoteAddress: req.remoteAddress,
          wrapTtl: req.wrapTtl,
        },
        status: reply.status,
        body,
      });
    } catch (error) {
      // As Vault: a request whose audit entry cannot be written fails.
      if (error instanceof LogicalError) return errorReply(error.status, error.errors);
      throw error;
    }
    return reply;
  }

  private async dispatchLogical(req: DispatchRequest, trace: DispatchTrace): Promise<RawReply> {
    const mount = this.matchMount(req.path);
    trace.mount = mount;
    const rel = mount ? req.path.slice(Math.min(mount.path.length, req.path.length)) : req.path;
    const unauthenticated = mount ? this.isUnauthenticated(mount, rel, req.data, req.tokenId) : false;
    let te: TokenEntry | undefined;
    if (
      mount?.path === 'sys/' &&
      (rel === 'wrapping/unwrap' || rel === 'wrapping/lookup') &&
      !req.data.token &&
      req.tokenId &&
      (this.wrappedEntry(req.tokenId) || (rel === 'wrapping/unwrap' && !this.tokens.lookup(req.tokenId)))
    ) {
      // The wrapping token itself was sent as the client token.
      req.data = { ...req.data, token: req.tokenId };
      req.tokenId = undefined;
    }
    if (!unauthenticated) {
      // No token at all: plain `permission denied`; an unknown, expired or revoked one: the invalid-token multierror.
      if (!req.tokenId) return errorReply(403, ['permission denied']);
      te = this.tokens.lookup(req.tokenId);
      if (!te) return errorReply(403, [INVALID_TOKEN_MESSAGE]);
      // A token works in its own namespace and the namespaces below it, never above or beside it.
      if (!isWithin(this.namespace, te.mount.namespace ?? ROOT_NAMESPACE))
        return errorReply(403, ['permission denied']);
      if (te.boundCidrs?.length && !addressInCidrs(req.remoteAddress, te.boundCidrs))
        return errorReply(403, ['permission denied']);
    } else if (req.tokenId) {
      te = this.tokens.lookup(req.tokenId);
      if (te && !isWithin(this.namespace, te.mount.namespace ?? ROOT_NAMESPACE)) te = undefined;
    }
    trace.te = te;
    let operation = req.operation;
    const token: RequestToken | undefined = te
      ? {
          id: te.id,
          accessor: te.accessor,
          policies: te.policies,
          displayName: te.displayName,
          entityId: te.entityId,
          metadata: te.meta ?? {},
          isRoot: te.policies.includes('root'),
        }
      : undefined;
    const makeRequest = (op: Operation): LogicalRequest => ({
      operation: op,
      path: rel,
      mountPath: mount?.path ?? '',
      data: req.data,
      token,
      remoteAddress: req.remoteAddress,
      clientCertificate: req.clientCertificate,
      headers: req.headers,
    });
    try {
      if (operation === 'update' && mount?.backend.exists) {
        operation = (await mount.backend.exists(makeRequest('update'))) ? 'update' : 'create';
      }
      trace.operation = operation;
      if (!unauthenticated && te) {
        const acl = this.aclFor(te);
        // Policies are written relative to the token's namespace: a parent's token sees `child/secret/...`.
        const tokenNamespace = te.mount.namespace ?? ROOT_NAMESPACE;
        const aclPath = `${this.namespace.path.slice(tokenNamespace.path.length)}${req.path}`;
        if (!acl.allows(aclPath, operation, isSudoPath(req.path)))
          return errorReply(403, [POLICY_DENIED_MESSAGE]);
        this.tokens.use(te);
      }
      if (!mount) return errorReply(404, [`no handler for route "${req.path}". route entry not found.`]);
      const response = (await mount.backend.handle(makeRequest(operation))) as InternalResponse | null;
      if (operation !== 'read' && operation !== 'list') this.keyStats.encryptions += 1;
      return this.respond(mount, rel, req, operation, response, te);
    } catch (error) {
      if (error instanceof LogicalError) {
        if (error.data) {
          return jsonReply(error.status, {
            ...this.emptyEnvelope(mount),
            data: error.data,
            errors: error.errors,
          });
        }
        return errorReply(error.status, error.errors);
      }
      this.log('error', 'internal error handling a request', {
        path: req.path,
        error: error instanceof Error ? error.message : 'unknown',
      });
      return errorReply(500, [error instanceof Error ? error.message : 'internal error']);
    } finally {
      if (te?.exhausted) await this.tokens.revoke(te);
    }
  }

  private emptyEnvelope(mount: Mount | undefined): Record<string, unknown> {
    const envelope: Record<string, unknown> = {
      request_id: uuid(),
      lease_id: '',
      renewable: false,
      lease_duration: 0,
      data: null,
      wrap_info: null,
      warnings: null,
      auth: null,
    };
    if (mount) envelope.mount_type = mount.type;
    return envelope;
  }

  private respond(
    mount: Mount,
    rel: string,
    req: { operation: Operation; path: string; wrapTtl: number },
    operation: Operation,
    response: InternalResponse | null,
    te: TokenEntry | undefined,
  ): RawReply {
    const readLike = operation === 'read' || operation === 'list';
    if (!response)
      return readLike || operation === 'patch' ? errorReply(404, []) : { status: 204, headers: {}, body: '' };
    if (response.raw) {
      return {
        status: response.raw.status,
        headers: response.raw.contentType ? { 'content-type': response.raw.contentType } : {},
        body: response.raw.body,
      };
    }
    if (response.envelope) return jsonReply(200, { ...response.envelope, request_id: uuid() });
    const warnings = response.warnings?.length ? [...response.warnings] : null;
    if (operation === 'list' && !warnings) {
      const keys = (response.data as Record<string, unknown> | null | undefined)?.keys;
      if (!Array.isArray(keys) || keys.length === 0) return errorReply(404, []);
    }
    const envelope = this.emptyEnvelope(mount);
    envelope.data = response.data ?? null;
    envelope.warnings = warnings;
    if (response.secret) {
      const { lease, ttl, warnings: w } = this.leases.register(mount, rel, response.secret, te?.id);
      envelope.lease_id = lease.leaseId;
      envelope.lease_duration = ttl;
      envelope.renewable = response.secret.renewable;
      if (w.length) envelope.warnings = [...(warnings ?? []), ...w];
    }
    if (response.auth) {
      const { auth, warnings: w } = this.tokens.createFromAuth(response.auth, mount, req.path);
      envelope.auth = auth;
      if (w.length) envelope.warnings = [...((envelope.warnings as string[] | null) ?? []), ...w];
    }
    if (response.authBlock) envelope.auth = response.authBlock;
    if (response.leaseFields) Object.assign(envelope, response.leaseFields);
    if (response.injectTopLevel && response.data) {
      for (const [k, v] of Object.entries(response.data)) if (!(k in envelope)) envelope[k] = v;
    }
    const empty =
      envelope.data === null &&
      envelope.auth === null &&
      envelope.warnings === null &&
      !response.secret &&
      !response.leaseFields &&
      response.statusCode === undefined;
    if (empty && !readLike) return { status: 204, headers: {}, body: '' };
    let wrapTtl = req.wrapTtl;
    if (mount.path === 'sys/' && rel === 'wrapping/wrap' && wrapTtl === 0) wrapTtl = 300;
    if (wrapTtl > 0 && response.statusCode === undefined) {
      const stored = { ...envelope };
      delete stored.request_id;
      return jsonReply(200, this.wrap(stored, wrapTtl, req.path));
    }
    return jsonReply(response.statusCode ?? 200, envelope);
  }

  /** Stops every timer and closes every backend. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.leases.close();
    this.tokens.shutdown();
    this.audit.close();
    for (const entry of this.wrapped.values()) entry.timer.clear();
    const namespaceMounts = this.namespaces.nonRoot().flatMap((ns) => [...ns.view.mounts.values()]);
    for (const mount of [...this.mounts.values(), ...namespaceMounts]) {
      if (mount.kind === 'system' || mount.path === 'auth/token/' || mount.path === 'cubbyhole/') continue;
      try {
        await mount.backend.close?.();
      } catch (error) {
        this.log('warn', 'backend close failed', {
          mount: mount.path,
          error: error instanceof Error ? error.message : 'unknown',
        });
      }
    }
  }
}
