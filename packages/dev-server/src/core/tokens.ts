import { givenFields, parseBool, parseDurationSeconds, parseField, parseStringList } from '../sdk/fields.js';
import {
  type AuthSpec,
  type Backend,
  badRequest,
  LogicalError,
  type LogicalRequest,
  type TokenView,
} from '../sdk/index.js';
import type { Clock } from '../util/clock.js';
import { formatVaultDuration } from '../util/duration.js';
import { randomBase62 } from '../util/random.js';
import { type LongTimer, scheduleAt } from '../util/timer.js';
import type { LeaseRegistry } from './leases.js';
import { namespaceSuffix, ROOT_NAMESPACE } from './namespaces.js';
import type { Acl } from './policy.js';
import { calculateTtl, rfc3339 } from './ttl.js';
import { type InternalResponse, type Mount, mountDefaultTtl, mountMaxTtl } from './types.js';

/** A token in the token store. */
export interface TokenEntry {
  readonly id: string;
  /** "" for batch tokens. */
  readonly accessor: string;
  readonly type: 'service' | 'batch';
  /** Sorted, `default` included unless `no_default_policy`. */
  readonly policies: string[];
  parentId: string | undefined;
  readonly children: Set<string>;
  readonly meta: Record<string, string> | null;
  readonly displayName: string;
  /** Creation path, e.g. `auth/token/create`, `auth/approle/login`. */
  readonly path: string;
  /** Remaining uses; 0 = unlimited. */
  numUses: number;
  /** Set when the last use was consumed: revoke after the current request. */
  exhausted: boolean;
  readonly creationTime: number;
  /** TTL given at creation (seconds; 0 = no expiry). */
  readonly creationTtl: number;
  /** Current TTL (last granted), the backend TTL for renewals without an increment. */
  ttl: number;
  /** ms since epoch; 0 = never expires. */
  expireTime: number;
  readonly explicitMaxTtl: number;
  readonly period: number;
  /** Max TTL from the auth backend/role (seconds; 0 = mount max). */
  readonly maxTtl: number;
  readonly renewable: boolean;
  orphan: boolean;
  readonly entityId: string;
  readonly internal: Record<string, unknown>;
  /** The auth mount that created it (`auth/token/` for token-store tokens). */
  readonly mount: Mount;
  readonly role: string | undefined;
  readonly boundCidrs: string[] | undefined;
  lastRenewal: number | undefined;
  timer: LongTimer | undefined;
}

/** What the token store needs from the server core. */
export interface TokenHost {
  now(): number;
  /** The clock that runs expiry timers (the server's; default the real clock). */
  clock?: Clock;
  log(level: 'debug' | 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>): void;
  /** True while sealed: token expiry is paused, as Vault's expiration manager is. */
  isSealed?(): boolean;
  readonly leases: LeaseRegistry;
  /** ACL of a token (for the sudo checks the token store makes itself). */
  aclFor(token: TokenEntry): Acl;
  /** Whether a policy exists in the namespace of `mount` (the token store mount serving the request). */
  policyExists(name: string, mount: Mount): boolean;
  /** Called after a token is revoked (e.g. to drop its cubbyhole). */
  onRevoke?(tokenId: string): void;
}

interface TokenRole {
  name: string;
  allowedPolicies: string[];
  disallowedPolicies: string[];
  orphan: boolean;
  renewable: boolean;
  period: number;
  explicitMaxTtl: number;
  tokenType: 'service' | 'batch';
  pathSuffix: string;
  tokenTtl: number;
  tokenMaxTtl: number;
  tokenNoDefaultPolicy: boolean;
}

function parseInt0(value: unknown, field: string): number {
  return parseField('int', value, field) ?? 0;
}

function parseMeta(value: unknown): Record<string, string> | null {
  return parseField('kv-pairs', value, 'meta') ?? null;
}

function sanitizePolicies(policies: readonly string[], addDefault: boolean): string[] {
  const set = new Set(policies.map((p) => p.trim().toLowerCase()).filter(Boolean));
  if (set.has('root')) return ['root'];
  if (addDefault) set.add('default');
  return [...set].sort();
}

/** Vault's token store: token entries, accessors, parent/child tree, expiry and the `auth/token/*` API. */
export class TokenStore implements Backend {
  readonly type = 'token';
  private readonly byId = new Map<string, TokenEntry>();
  private readonly byAccessor = new Map<string, TokenEntry>();
  private readonly roles = new Map<string, TokenRole>();
  private closed = false;
  /** Tokens whose expiry fell while the server was sealed; handled by {@link resumeExpiry}. */
  private readonly pausedExpiries = new Set<TokenEntry>();
  /** The `auth/token/` mount (set by the core after mounting). */
  mount!: Mount;

  constructor(private readonly host: TokenHost) {}

  // -------------------------------------------------------------------------------------------------------------
  // Store operations
  // -------------------------------------------------------------------------------------------------------------

  /** A live token by ID (expired/revoked → undefined). */
  lookup(id: string | undefined): TokenEntry | undefined {
    if (!id) return undefined;
    const te = this.byId.get(id);
    if (!te) return undefined;
    if (te.expireTime !== 0 && te.expireTime <= this.host.now()) return undefined;
    return te;
  }

  lookupAccessor(accessor: string): TokenEntry | undefined {
    const te = this.byAccessor.get(accessor);
    if (!te) return undefined;
    return this.lookup(te.id);
  }

  /** Every live token (for the control surface). */
  all(): TokenEntry[] {
    return [...this.byId.values()];
  }

  /** Creates a token entry and arms its expiry timer. */
  create(params: {
    id?: string;
    type: 'service' | 'batch';
    policies: string[];
    parent: TokenEntry | undefined;
    meta: Record<string, string> | null;
    displayName: string;
    path: string;
    numUses: number;
    ttl: number;
    explicitMaxTtl: number;
    period: number;
    maxTtl: number;
    renewable: boolean;
    internal?: Record<string, unknown>;
    mount: Mount;
    role?: string;
    boundCidrs?: string[];
  }): TokenEntry {
    const now = this.host.now();
    // Tokens and accessors created in a namespace end with `.<namespace id>`, as Vault's do.
    const nsSuffix = namespaceSuffix(params.mount.namespace);
    const id =
      params.id ??
      (params.type === 'batch' ? `hvb.${randomBase62(90)}${nsSuffix}` : `hvs.${randomBase62(24)}${nsSuffix}`);
    if (this.byId.has(id)) throw badRequest('cannot create a token with a duplicate ID');
    const te: TokenEntry = {
      id,
      accessor: params.type === 'batch' ? '' : `${randomBase62(24)}${nsSuffix}`,
      type: params.type,
      policies: params.policies,
      parentId: params.parent?.id,
      children: new Set(),
      meta: params.meta,
      displayName: params.displayName,
      path: params.path,
      numUses: params.numUses,
      exhausted: false,
      creationTime: now,
      creationTtl: params.ttl,
      ttl: params.ttl,
      expireTime: params.ttl > 0 ? now + params.ttl * 1000 : 0,
      explicitMaxTtl: params.explicitMaxTtl,
      period: params.period,
      maxTtl: params.maxTtl,
      renewable: params.type === 'batch' ? false : params.renewable,
      orphan: !params.parent,
      entityId: '',
      internal: { ...(params.internal ?? {}) },
      mount: params.mount,
      role: params.role,
      boundCidrs: params.boundCidrs,
      lastRenewal: undefined,
      timer: undefined,
    };
    this.byId.set(id, te);
    if (te.accessor) this.byAccessor.set(te.accessor, te);
    params.parent?.children.add(id);
    this.arm(te);
    return te;
  }

  private arm(te: TokenEntry): void {
    te.timer?.clear();
    te.timer = undefined;
    if (this.closed || te.expireTime === 0) return;
    te.timer = scheduleAt(
      te.expireTime,
      () => {
        // Expiry is paused while sealed (as in Vault); resumeExpiry() catches up after unseal.
        if (this.host.isSealed?.()) {
          this.pausedExpiries.add(te);
          return undefined;
        }
        this.host.log('debug', 'token expired', { accessor: te.accessor });
        // Returned so that a manual clock waits for the revocation.
        return this.revoke(te);
      },
      this.host.clock,
    );
  }

  /** After unseal: revokes the tokens whose expiry fell during the seal. */
  resumeExpiry(): void {
    const now = this.host.now();
    for (const te of this.pausedExpiries) {
      if (!this.byId.has(te.id)) continue;
      if (te.expireTime !== 0 && te.expireTime <= now) {
        this.host.log('debug', 'token expired', { accessor: te.accessor });
        void this.revoke(te);
      } else {
        this.arm(te);
      }
    }
    this.pausedExpiries.clear();
  }

  /** Revokes a token, its leases and (unless `orphanChildren`) its whole subtree. */
  async revoke(te: TokenEntry, options: { orphanChildren?: boolean } = {}): Promise<void> {
    if (!this.byId.has(te.id)) return;
    this.byId.delete(te.id);
    if (te.accessor) this.byAccessor.delete(te.accessor);
    te.timer?.clear();
    if (te.parentId) this.byId.get(te.parentId)?.children.delete(te.id);
    for (const childId of [...te.children]) {
      const child = this.byId.get(childId);
      if (!child) continue;
      if (options.orphanChildren) {
        child.parentId = undefined;
        child.orphan = true;
      } else {
        await this.revoke(child);
      }
    }
    te.children.clear();
    await this.host.leases.revokeByToken(te.id);
    this.host.onRevoke?.(te.id);
  }

  /** Revokes every token created through an auth mount (mount disable). */
  async revokeByMount(mount: Mount): Promise<void> {
    for (const te of [...this.byId.values()]) if (te.mount === mount) await this.revoke(te);
  }

  /** Revokes every token of a namespace (namespace deletion). */
  async revokeByNamespace(namespaceId: string): Promise<void> {
    for (const te of [...this.byId.values()])
      if (te.mount.namespace?.id === namespaceId) await this.revoke(te);
  }

  /** Consumes one use of a limited-use token. */
  use(te: TokenEntry): void {
    if (te.numUses > 0) {
      te.numUses--;
      if (te.numUses === 0) te.exhausted = true;
    }
  }

  /** Stops every timer (server close). */
  shutdown(): void {
    this.closed = true;
    for (const te of this.byId.values()) te.timer?.clear();
  }

  // -------------------------------------------------------------------------------------------------------------
  // Tokens for logins (AuthSpec from auth backends)
  // -------------------------------------------------------------------------------------------------------------

  /** Creates the token for a login response; returns it with the auth block and warnings. */
  createFromAuth(
    spec: AuthSpec,
    mount: Mount,
    path: string,
  ): { token: TokenEntry; auth: Record<string, unknown>; warnings: string[] } {
    const warnings: string[] = [];
    const policies = sanitizePolicies(spec.policies, !spec.noDefaultPolicy);
    let max = mountMaxTtl(mount);
    if (spec.maxTtl > 0 && spec.maxTtl < max) max = spec.maxTtl;
    const explicitMax = spec.explicitMaxTtl ?? 0;
    if (explicitMax > 0 && explicitMax < max) max = explicitMax;
    const period = spec.period ?? 0;
    let ttl: number;
    if (period > 0) {
      ttl = period;
      if (explicitMax > 0 && ttl > explicitMax) ttl = explicitMax;
    } else {
      ttl = spec.ttl > 0 ? spec.ttl : mountDefaultTtl(mount);
      if (ttl > max) {
        warnings.push(
          `TTL of "${formatVaultDuration(ttl)}" exceeded the effective max_ttl of "${formatVaultDuration(max)}"; TTL value is capped accordingly`,
        );
        ttl = max;
      }
    }
    const token = this.create({
      type: spec.tokenType ?? 'service',
      policies,
      parent: undefined,
      meta: spec.metadata,
      displayName: spec.displayName,
      path,
      numUses: spec.numUses ?? 0,
      ttl,
      explicitMaxTtl: explicitMax,
      period,
      maxTtl: spec.maxTtl,
      renewable: spec.renewable,
      internal: spec.internal,
      mount,
      boundCidrs: spec.boundCidrs,
    });
    return { token, auth: this.authBlock(token, token.id, ttl), warnings };
  }

  /** The `auth` block of an envelope for a token. */
  authBlock(te: TokenEntry, clientToken: string, leaseDuration: number): Record<string, unknown> {
    const block: Record<string, unknown> = {
      client_token: clientToken,
      accessor: te.accessor,
      policies: te.policies,
      token_policies: te.policies,
      metadata: te.meta,
      lease_duration: leaseDuration,
      renewable: te.renewable && te.expireTime !== 0,
      entity_id: te.entityId,
      token_type: te.type,
      orphan: te.orphan,
      mfa_requirement: null,
      num_uses: te.numUses,
    };
    if (te.policies.length === 0) delete block.token_policies;
    return block;
  }

  /** Token lookup data (`auth/token/lookup*`). */
  lookupData(te: TokenEntry, includeId: boolean): Record<string, unknown> {
    const now = this.host.now();
    const data: Record<string, unknown> = {
      accessor: te.accessor,
      creation_time: Math.floor(te.creationTime / 1000),
      creation_ttl: te.creationTtl,
      display_name: te.displayName,
      entity_id: te.entityId,
      expire_time: te.expireTime ? rfc3339(te.expireTime) : null,
      explicit_max_ttl: te.explicitMaxTtl,
      id: includeId ? te.id : '',
      issue_time: rfc3339(te.creationTime),
      meta: te.meta,
      num_uses: te.numUses,
      orphan: te.orphan,
      path: te.path,
      policies: te.policies,
      renewable: te.renewable && te.expireTime !== 0,
      ttl: te.expireTime ? Math.max(0, Math.round((te.expireTime - now) / 1000)) : 0,
      type: te.type,
    };
    if (te.period > 0) data.period = te.period;
    if (te.role) data.role = te.role;
    if (te.mount.namespace && te.mount.namespace.id !== ROOT_NAMESPACE.id)
      data.namespace_path = te.mount.namespace.path;
    if (te.boundCidrs?.length) data.bound_cidrs = te.boundCidrs;
    if (te.lastRenewal) {
      data.last_renewal_time = Math.floor(te.lastRenewal / 1000);
      data.last_renewal = rfc3339(te.lastRenewal);
    }
    return data;
  }

  /** Renews a token with CalculateTTL (and the creating auth backend's `renewAuth`). */
  async renewToken(te: TokenEntry, increment: number): Promise<{ ttl: number; warnings: string[] }> {
    if (te.type === 'batch') throw badRequest('batch tokens cannot be renewed');
    const now = this.host.now();
    if (te.expireTime !== 0 && te.expireTime <= now) throw badRequest('lease expired');
    if (!te.renewable || te.expireTime === 0) throw badRequest('lease is not renewable');
    let backendTtl = te.ttl;
    let backendMax = te.maxTtl;
    let period = te.period;
    const backend = te.mount.backend;
    if (te.mount.path !== 'auth/token/' && backend.renewAuth) {
      const view: TokenView = {
        accessor: te.accessor,
        policies: te.policies,
        metadata: te.meta ?? {},
        internal: te.internal,
        issueTime: te.creationTime,
        expireTime: te.expireTime,
      };
      const override = await backend.renewAuth(view);
      if (override?.ttl !== undefined) backendTtl = override.ttl;
      if (override?.maxTtl !== undefined) backendMax = override.maxTtl;
      if (override?.period !== undefined) period = override.period;
    }
    const result = calculateTtl({
      systemDefault: mountDefaultTtl(te.mount),
      systemMax: mountMaxTtl(te.mount),
      increment,
      backendTtl,
      period,
      backendMaxTtl: backendMax,
      explicitMaxTtl: te.explicitMaxTtl,
      startTime: te.creationTime,
      now,
    });
    te.ttl = result.ttl;
    te.expireTime = now + result.ttl * 1000;
    te.lastRenewal = now;
    this.arm(te);
    return result;
  }

  // -------------------------------------------------------------------------------------------------------------
  // The auth/token/* API
  // -------------------------------------------------------------------------------------------------------------

  private caller(request: LogicalRequest): TokenEntry {
    const te = this.lookup(request.token?.id);
    if (!te) throw new LogicalError(403, 'permission denied');
    return te;
  }

  async handle(request: LogicalRequest): Promise<InternalResponse | null> {
    const { path, operation: op, data } = request;
    const write = op === 'create' || op === 'update';
    if (path === 'create' || path === 'create-orphan' || path.startsWith('create/')) {
      if (!write) throw new LogicalError(405, 'unsupported operation');
      const roleName = path.startsWith('create/') ? path.slice('create/'.length) : undefined;
      return this.handleCreate(request, path === 'create-orphan', roleName);
    }
    switch (path) {
      case 'lookup-self':
        if (op !== 'read' && !write) break;
        return { data: this.lookupData(this.caller(request), true) };
      case 'lookup': {
        if (op !== 'read' && !write) break;
        // Vault's `handleLookup` (https://github.com/hashicorp/vault/blob/main/vault/token_store.go): no `token` →
        // the caller's own; a token that does not exist → 403 `permission denied`.
        const token = (typeof data.token === 'string' ? data.token : '') || request.token?.id || '';
        if (!token) throw badRequest('missing token ID');
        const te = this.lookup(token);
        if (!te) throw new LogicalError(403, 'permission denied');
        return { data: this.lookupData(te, true) };
      }
      case 'lookup-accessor': {
        if (!write) break;
        const te = this.lookupAccessor(String(data.accessor ?? ''));
        if (!te) throw badRequest('invalid accessor');
        return { data: this.lookupData(te, false) };
      }
      case 'renew-self':
      case 'renew':
      case 'renew-accessor': {
        if (!write) break;
        let te: TokenEntry | undefined;
        let clientToken = '';
        if (path === 'renew-self') {
          te = this.caller(request);
          clientToken = te.id;
        } else if (path === 'renew') {
          const token = typeof data.token === 'string' ? data.token : '';
          if (!token) throw badRequest('missing token');
          te = this.lookup(token);
          if (!te) throw badRequest('token not found');
          clientToken = te.id;
        } else {
          te = this.lookupAccessor(String(data.accessor ?? ''));
          if (!te) throw badRequest('invalid accessor');
        }
        const increment = parseDurationSeconds(data.increment, 'increment');
        const { ttl, warnings } = await this.renewToken(te, increment);
        return { authBlock: this.authBlock(te, clientToken, ttl), warnings };
      }
      case 'revoke-self': {
        if (!write) break;
        await this.revoke(this.caller(request));
        return null;
      }
      case 'revoke':
      case 'revoke-orphan': {
        if (!write) break;
        const token = typeof data.token === 'string' ? data.token : '';
        if (!token) throw badRequest('missing token');
        const te = this.byId.get(token);
        if (te?.type === 'batch') throw badRequest('batch tokens cannot be revoked');
        if (te) await this.revoke(te, { orphanChildren: path === 'revoke-orphan' });
        return null;
      }
      case 'revoke-accessor': {
        if (!write) break;
        const te = this.byAccessor.get(String(data.accessor ?? ''));
        if (!te) throw badRequest('invalid accessor');
        await this.revoke(te);
        return null;
      }
      case 'accessors/': {
        if (op !== 'list') break;
        return { data: { keys: [...this.byAccessor.keys()] } };
      }
      case 'roles/': {
        if (op !== 'list') break;
        return { data: { keys: [...this.roles.keys()].sort() } };
      }
      default:
        if (path.startsWith('roles/')) return this.handleRole(request, path.slice('roles/'.length));
        throw new LogicalError(404, `unsupported path`);
    }
    throw new LogicalError(405, 'unsupported operation');
  }

  private handleRole(request: LogicalRequest, name: string): InternalResponse | null {
    const { operation: op } = request;
    const data = givenFields(request.data);
    if (op === 'read') {
      const role = this.roles.get(name);
      if (!role) return null;
      return {
        data: {
          name: role.name,
          allowed_policies: role.allowedPolicies,
          disallowed_policies: role.disallowedPolicies,
          orphan: role.orphan,
          renewable: role.renewable,
          token_period: role.period,
          period: role.period,
          token_explicit_max_ttl: role.explicitMaxTtl,
          explicit_max_ttl: role.explicitMaxTtl,
          token_type: role.tokenType,
          path_suffix: role.pathSuffix,
          token_ttl: role.tokenTtl,
          token_max_ttl: role.tokenMaxTtl,
          token_no_default_policy: role.tokenNoDefaultPolicy,
        },
      };
    }
    if (op === 'delete') {
      this.roles.delete(name);
      return null;
    }
    if (op !== 'create' && op !== 'update') throw new LogicalError(405, 'unsupported operation');
    const existing = this.roles.get(name);
    const tokenType = String(data.token_type ?? existing?.tokenType ?? 'service');
    if (!['service', 'batch', 'default', 'default-service', 'default-batch'].includes(tokenType))
      throw badRequest(`invalid 'token_type' value "${tokenType}"`);
    const role: TokenRole = {
      name,
      allowedPolicies:
        parseStringList(data.allowed_policies, 'allowed_policies') ?? existing?.allowedPolicies ?? [],
      disallowedPolicies:
        parseStringList(data.disallowed_policies, 'disallowed_policies') ??
        existing?.disallowedPolicies ??
        [],
      orphan: parseBool(data.orphan, 'orphan') ?? existing?.orphan ?? false,
      renewable: parseBool(data.renewable, 'renewable') ?? existing?.renewable ?? true,
      period:
        data.token_period !== undefined || data.period !== undefined
          ? parseDurationSeconds(data.token_period ?? data.period, 'token_period')
          : (existing?.period ?? 0),
      explicitMaxTtl:
        data.token_explicit_max_ttl !== undefined || data.explicit_max_ttl !== undefined
          ? parseDurationSeconds(
              data.token_explicit_max_ttl ?? data.explicit_max_ttl,
              'token_explicit_max_ttl',
            )
          : (existing?.explicitMaxTtl ?? 0),
      tokenType: tokenType.endsWith('batch') ? 'batch' : 'service',
      pathSuffix: String(data.path_suffix ?? existing?.pathSuffix ?? ''),
      tokenTtl:
        data.token_ttl !== undefined
          ? parseDurationSeconds(data.token_ttl, 'token_ttl')
          : (existing?.tokenTtl ?? 0),
      tokenMaxTtl:
        data.token_max_ttl !== undefined
          ? parseDurationSeconds(data.token_max_ttl, 'token_max_ttl')
          : (existing?.tokenMaxTtl ?? 0),
      tokenNoDefaultPolicy:
        parseBool(data.token_no_default_policy, 'token_no_default_policy') ??
        existing?.tokenNoDefaultPolicy ??
        false,
    };
    this.roles.set(name, role);
    return null;
  }

  private handleCreate(
    request: LogicalRequest,
    orphanPath: boolean,
    roleName: string | undefined,
  ): InternalResponse {
    const parent = this.caller(request);
    const data = givenFields(request.data);
    if (parent.type === 'batch') throw badRequest('batch tokens cannot create more tokens');
    const isRoot = parent.policies.includes('root');
    const acl = this.host.aclFor(parent);
    const isSudo = isRoot || acl.allows(`auth/token/${request.path}`, 'update', true);
    const role = roleName !== undefined ? this.roles.get(roleName) : undefined;
    if (roleName !== undefined && !role) throw badRequest(`unknown role ${roleName}`);

    const warnings: string[] = [];
    let id: string | undefined;
    const requestedId = parseField('string', data.id, 'id');
    if (requestedId !== undefined && requestedId !== '') {
      if (!isRoot && !isSudo) throw badRequest('root or sudo privileges required to specify token id');
      id = requestedId;
      if (id.includes('.')) throw badRequest('token IDs can not contain period characters');
    }
    const noParent = parseBool(data.no_parent, 'no_parent') ?? false;
    if (noParent && !isSudo && !orphanPath)
      throw badRequest('root or sudo privileges required to create orphan token');
    const orphan = orphanPath || noParent || (role?.orphan ?? false);
    const typeText = String(data.type ?? (role ? role.tokenType : 'service'));
    if (typeText !== 'service' && typeText !== 'batch')
      throw badRequest(`unsupported token type "${typeText}"`);
    const type = typeText as 'service' | 'batch';
    const noDefault =
      parseBool(data.no_default_policy, 'no_default_policy') ?? role?.tokenNoDefaultPolicy ?? false;
    let requested = parseStringList(data.policies, 'policies');
    const parentPolicies = parent.policies;
    if (role) {
      if (requested === undefined || requested.length === 0)
        requested = role.allowedPolicies.length
          ? role.allowedPolicies
          : parentPolicies.filter((p) => p !== 'root');
      const allowed = new Set([...role.allowedPolicies, 'default']);
      if (role.allowedPolicies.length > 0 && !requested.every((p) => allowed.has(p)))
        throw badRequest("token policies must be subset of the role's allowed policies");
      if (requested.some((p) => role.disallowedPolicies.includes(p)))
        throw badRequest('token policies contain disallowed policies');
    } else {
      if (requested === undefined || requested.length === 0) requested = parentPolicies;
      if (!isRoot) {
        const parentSet = new Set(parent.policies);
        const extra = requested.filter((p) => p !== 'default' && !parentSet.has(p.toLowerCase()));
        if (extra.length > 0) throw badRequest('child policies must be subset of parent');
      }
    }
    const policies = sanitizePolicies(requested, !noDefault);
    for (const p of policies)
      if (p !== 'root' && p !== 'default' && !this.host.policyExists(p, this.mount))
        warnings.push(`Policy "${p}" does not exist`);

    const explicitMax =
      data.explicit_max_ttl !== undefined
        ? parseDurationSeconds(data.explicit_max_ttl, 'explicit_max_ttl')
        : (role?.explicitMaxTtl ?? 0);
    const period =
      data.period !== undefined ? parseDurationSeconds(data.period, 'period') : (role?.period ?? 0);
    if (period > 0 && data.period !== undefined && !isSudo)
      throw badRequest('root or sudo privileges required to create periodic token');
    const renewable = parseBool(data.renewable, 'renewable') ?? role?.renewable ?? true;
    const numUses = parseInt0(data.num_uses, 'num_uses');
    if (numUses < 0) throw badRequest('number of uses cannot be negative');
    const requestedTtl =
      data.ttl !== undefined || data.lease !== undefined
        ? parseDurationSeconds(data.ttl ?? data.lease, 'ttl')
        : (role?.tokenTtl ?? 0);
    if (requestedTtl < 0) throw badRequest('ttl must be positive');

    let max = mountMaxTtl(this.mount);
    if (role?.tokenMaxTtl && role.tokenMaxTtl < max) max = role.tokenMaxTtl;
    if (explicitMax > 0 && explicitMax < max) max = explicitMax;
    let ttl: number;
    if (period > 0) {
      ttl = period;
      if (explicitMax > 0 && ttl > explicitMax) ttl = explicitMax;
    } else if (requestedTtl === 0 && policies.includes('root') && explicitMax === 0) {
      ttl = 0;
    } else {
      ttl = requestedTtl > 0 ? requestedTtl : mountDefaultTtl(this.mount);
      if (ttl > max) {
        warnings.push(
          `TTL of "${formatVaultDuration(ttl)}" exceeded the effective max_ttl of "${formatVaultDuration(max)}"; TTL value is capped accordingly`,
        );
        ttl = max;
      }
    }
    if (type === 'batch' && (period > 0 || numUses > 0 || id !== undefined))
      throw badRequest('batch tokens cannot be periodic, have limited uses, or have custom IDs');
    const rawName = typeof data.display_name === 'string' ? data.display_name : '';
    const displayName = rawName ? `token-${rawName}`.replace(/[^a-zA-Z0-9-]/g, '-') : 'token';
    const te = this.create({
      id,
      type,
      policies,
      parent: orphan ? undefined : parent,
      meta: parseMeta(data.meta),
      displayName,
      path: `auth/token/${request.path}`,
      numUses,
      ttl,
      explicitMaxTtl: explicitMax,
      period,
      maxTtl: role?.tokenMaxTtl ?? 0,
      renewable,
      mount: this.mount,
      role: roleName,
    });
    return { authBlock: this.authBlock(te, te.id, ttl), warnings };
  }
}
