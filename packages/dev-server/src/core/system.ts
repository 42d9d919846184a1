import { parseBool, parseDurationSeconds, parseField, parseStringList } from '../sdk/fields.js';
import { type Backend, badRequest, LogicalError, type LogicalRequest } from '../sdk/index.js';
import { errorReply, jsonReply, type RawReply } from '../sdk/reply.js';
import type { Core } from './core.js';
import { leaseNamespaceId } from './namespaces.js';
import { parsePolicy } from './policy.js';
import { rfc3339 } from './ttl.js';
import { type InternalResponse, type Mount, mountDefaultTtl, mountMaxTtl, VAULT_VERSION } from './types.js';

const HEALTH_CODES: Record<string, number> = {
  activecode: 200,
  standbycode: 429,
  drsecondarycode: 472,
  performancestandbycode: 473,
  sealedcode: 503,
  uninitcode: 501,
  haunhealthycode: 474,
  removedcode: 530,
};

/** Vault's `MaxIrrevocableLeasesToReturn` and `MaxIrrevocableLeasesWarning` (vault/expiration.go). */
const MAX_IRREVOCABLE_LEASES_TO_RETURN = 10_000;
const MAX_IRREVOCABLE_LEASES_WARNING =
  'Command halted because many irrevocable leases were found. To emit the entire list, re-run the command with force set true.';

function noContent(status = 204): InternalResponse {
  return { raw: { status, contentType: '', body: '' } };
}

function str(value: unknown, field = 'input'): string {
  return parseField('string', value, field) ?? '';
}

function stringMap(value: unknown, field: string): Record<string, string> | undefined {
  return parseField('kv-pairs', value, field);
}

/** Vault's `sys/` backend. */
export class SystemBackend implements Backend {
  readonly type = 'system';
  constructor(private readonly core: Core) {}

  // ------------------------------------------------------------------ health & seal status (not enveloped)

  sealStatus(): Record<string, unknown> {
    const status: Record<string, unknown> = {
      type: 'shamir',
      initialized: true,
      sealed: this.core.sealed,
      t: 1,
      n: 1,
      progress: 0,
      nonce: '',
      version: VAULT_VERSION,
      build_date: '2024-09-26T10:14:36Z',
      migration: false,
      recovery_seal: false,
      storage_type: 'inmem',
    };
    if (!this.core.sealed) {
      status.cluster_name = this.core.clusterName;
      status.cluster_id = this.core.clusterId;
    }
    return status;
  }

  health(method: string, query: URLSearchParams): RawReply {
    if (method !== 'GET' && method !== 'HEAD') return errorReply(405, []);
    const codes = { ...HEALTH_CODES };
    for (const key of Object.keys(HEALTH_CODES)) {
      const v = query.get(key);
      if (v === null || v === '') continue;
      const code = Number.parseInt(v, 10);
      if (!/^-?\d+$/.test(v) || code < 100 || code > 999)
        return errorReply(400, [`unable to parse ${key} value: ${v} is not a valid HTTP status code`]);
      codes[key] = code;
    }
    for (const key of ['standbyok', 'perfstandbyok']) {
      const v = query.get(key);
      if (v === null || v === '') continue;
      try {
        parseBool(v, key);
      } catch {
        return errorReply(400, [`bad value for ${key} parameter: ${v}`]);
      }
    }
    const status = this.core.sealed ? (codes.sealedcode as number) : (codes.activecode as number);
    if (method === 'HEAD') return { status, headers: {}, body: '' };
    const body: Record<string, unknown> = {
      initialized: true,
      sealed: this.core.sealed,
      standby: false,
      performance_standby: false,
      replication_performance_mode: 'disabled',
      replication_dr_mode: 'disabled',
      server_time_utc: Math.floor(this.core.now() / 1000),
      version: VAULT_VERSION,
      enterprise: false,
      echo_duration_ms: 0,
      clock_skew_ms: 0,
    };
    if (!this.core.sealed) {
      body.cluster_name = this.core.clusterName;
      body.cluster_id = this.core.clusterId;
    }
    return jsonReply(status, body);
  }

  /**
   * `sys/init` — answered by Vault's HTTP layer without a token (`handleSysInit`,
   * https://github.com/hashicorp/vault/blob/main/http/sys_init.go): GET → `{"initialized":true}`; PUT/POST → 400
   * `Vault is already initialized` (a dev server is initialized from the start).
   */
  init(method: string): RawReply {
    if (method === 'GET') return jsonReply(200, { initialized: true });
    if (method === 'PUT' || method === 'POST') return errorReply(400, ['Vault is already initialized']);
    return errorReply(405, []);
  }

  /**
   * `sys/leader` — unauthenticated, answered while sealed too (`handleSysLeader`,
   * https://github.com/hashicorp/vault/blob/main/http/sys_leader.go); a single node without HA.
   */
  leader(method: string): RawReply {
    if (method !== 'GET') return errorReply(405, []);
    return jsonReply(200, {
      ha_enabled: false,
      is_self: false,
      active_time: '0001-01-01T00:00:00Z',
      leader_address: '',
      leader_cluster_address: '',
      performance_standby: false,
      performance_standby_last_remote_wal: 0,
    });
  }

  // ------------------------------------------------------------------ mount descriptions

  private mountEntry(mount: Mount): Record<string, unknown> {
    return {
      accessor: mount.accessor,
      config: {
        default_lease_ttl: mount.defaultLeaseTtl,
        force_no_cache: false,
        max_lease_ttl: mount.maxLeaseTtl,
      },
      description: mount.description,
      external_entropy_access: false,
      local: mount.local,
      options: Object.keys(mount.options).length ? mount.options : null,
      plugin_version: '',
      running_plugin_version: `v${VAULT_VERSION}+builtin.vault`,
      running_sha256: '',
      seal_wrap: mount.sealWrap,
      type: mount.type,
      uuid: mount.uuid,
    };
  }

  private tuneInfo(mount: Mount): Record<string, unknown> {
    const info: Record<string, unknown> = {
      default_lease_ttl: mountDefaultTtl(mount),
      max_lease_ttl: mountMaxTtl(mount),
      force_no_cache: false,
      description: mount.description,
    };
    if (Object.keys(mount.options).length) info.options = mount.options;
    return info;
  }

  private listMounts(kind: 'secret' | 'auth'): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const mount of this.core.mounts.values()) {
      if (kind === 'auth' && mount.kind === 'auth')
        out[mount.path.slice('auth/'.length)] = this.mountEntry(mount);
      if (kind === 'secret' && mount.kind !== 'auth') out[mount.path] = this.mountEntry(mount);
    }
    return out;
  }

  private async tune(mount: Mount, data: Record<string, unknown>): Promise<void> {
    let def = mount.defaultLeaseTtl;
    let max = mount.maxLeaseTtl;
    if (data.default_lease_ttl !== undefined)
      def =
        str(data.default_lease_ttl) === 'system'
          ? 0
          : parseDurationSeconds(data.default_lease_ttl, 'default_lease_ttl');
    if (data.max_lease_ttl !== undefined)
      max =
        str(data.max_lease_ttl) === 'system' ? 0 : parseDurationSeconds(data.max_lease_ttl, 'max_lease_ttl');
    if (def < 0 || max < 0) throw badRequest('lease TTL values cannot be negative');
    if (def > 0 && max > 0 && def > max)
      throw badRequest('backend max lease TTL cannot be less than backend default');
    mount.defaultLeaseTtl = def;
    mount.maxLeaseTtl = max;
    if (typeof data.description === 'string') mount.description = data.description;
    const options = stringMap(data.options, 'options');
    if (options) await this.core.tuneOptions(mount, options);
  }

  private async mountsPath(
    request: LogicalRequest,
    kind: 'secret' | 'auth',
    rest: string,
  ): Promise<InternalResponse | null> {
    const { operation: op, data } = request;
    const isTune = rest.endsWith('/tune');
    const mountRel = (isTune ? rest.slice(0, -'/tune'.length) : rest).replace(/^\/+|\/+$/g, '');
    const fullPath = `${kind === 'auth' ? 'auth/' : ''}${mountRel}/`;
    const mount = this.core.mounts.get(fullPath);
    if (isTune) {
      if (!mount) throw badRequest(`cannot fetch sysview for path "${fullPath}"`);
      if (op === 'read') return { data: this.tuneInfo(mount), injectTopLevel: true };
      if (op === 'update' || op === 'create') {
        await this.tune(mount, data);
        return null;
      }
      throw new LogicalError(405, 'unsupported operation');
    }
    if (op === 'read') {
      if (!mount) throw badRequest(`No secret engine mount at ${fullPath}`);
      return { data: this.mountEntry(mount), injectTopLevel: true };
    }
    if (op === 'delete') {
      await this.core.disableMount(fullPath);
      return null;
    }
    if (op !== 'update' && op !== 'create') throw new LogicalError(405, 'unsupported operation');
    const type = str(data.type);
    if (!type) throw badRequest('backend type must be specified as a string');
    const config = (data.config ?? {}) as Record<string, unknown>;
    if (typeof config !== 'object' || Array.isArray(config)) throw badRequest('config must be an object');
    const def = parseDurationSeconds(config.default_lease_ttl, 'default_lease_ttl');
    const max = parseDurationSeconds(config.max_lease_ttl, 'max_lease_ttl');
    if (def > 0 && max > 0 && def > max)
      throw badRequest('given default lease TTL greater than given max lease TTL');
    await this.core.enableMount({
      path: mountRel,
      type,
      kind,
      description: str(data.description),
      options: stringMap(data.options, 'options'),
      defaultLeaseTtl: def,
      maxLeaseTtl: max,
    });
    return null;
  }

  // ------------------------------------------------------------------ policies

  private policyPath(request: LogicalRequest, name: string, legacy: boolean): InternalResponse | null {
    const { operation: op, data } = request;
    const lname = name.toLowerCase();
    if (op === 'read') {
      const policy = this.core.policies.get(lname);
      if (!policy && lname !== 'root') return null;
      const text = policy?.raw ?? '';
      return legacy
        ? { data: { name: lname, rules: text }, injectTopLevel: true }
        : { data: { name: lname, policy: text } };
    }
    if (op === 'delete') {
      if (lname === 'root' || lname === 'default') throw badRequest(`cannot delete "${lname}" policy`);
      this.core.policies.delete(lname);
      return null;
    }
    if (op !== 'update' && op !== 'create') throw new LogicalError(405, 'unsupported operation');
    if (lname === 'root') throw badRequest('cannot update "root" policy');
    // Vault's `handlePolicySet` (https://github.com/hashicorp/vault/blob/main/vault/logical_system.go): on
    // `sys/policy/:name` an empty `policy` falls back to `rules`, with a deprecation warning (200, not 204).
    let text = str(data.policy);
    const warnings: string[] = [];
    if (!text && legacy) {
      text = str(data.rules);
      warnings.push("'rules' is deprecated, please use 'policy' instead");
    }
    if (!text) throw badRequest("'policy' parameter not supplied or empty");
    // As Vault: a policy that is valid standard base64 is decoded first.
    if (/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(text))
      text = Buffer.from(text, 'base64').toString('utf8');
    this.core.policies.set(lname, parsePolicy(lname, text));
    return warnings.length ? { warnings } : null;
  }

  private policyNames(): string[] {
    // The `root` policy exists in the root namespace only.
    const builtIn = this.core.namespace.path === '' ? ['root'] : [];
    return [...new Set([...this.core.policies.keys(), ...builtIn])].sort();
  }

  // ------------------------------------------------------------------ leases

  private leaseIdFrom(request: LogicalRequest, suffix: string): string {
    return str(request.data.lease_id) || str(request.data.lease) || suffix;
  }

  /** Whether a lease ID belongs to this namespace: another namespace's leases do not exist here. */
  private ownLease(leaseId: string): boolean {
    return leaseNamespaceId(leaseId) === this.core.namespace.id;
  }

  private async revokeLease(request: LogicalRequest, leaseId: string): Promise<InternalResponse> {
    if (!leaseId) throw badRequest('lease_id must be specified');
    if (!this.ownLease(leaseId)) return noContent();
    const sync = parseBool(request.data.sync, 'sync') ?? true;
    if (!sync) {
      void this.core.leases.revokeLazily(leaseId);
      return noContent(202);
    }
    await this.core.leases.revoke(leaseId);
    return noContent();
  }

  private async revokePrefix(
    request: LogicalRequest,
    prefix: string,
    force: boolean,
  ): Promise<InternalResponse> {
    const sync = parseBool(request.data.sync, 'sync') ?? true;
    const run = this.core.leases.revokePrefix(prefix, { force, sync, namespaceId: this.core.namespace.id });
    if (!sync) {
      run.catch(() => undefined);
      return noContent(202);
    }
    await run;
    return noContent();
  }

  /**
   * `sys/leases` and `sys/leases/count` with `type=irrevocable` (Vault's `handleLeaseList`/`handleLeaseCount`:
   * https://github.com/hashicorp/vault/blob/main/vault/logical_system.go); any other type → nothing (404).
   * `limit`: a positive integer or `none` (default 10 000, with Vault's warning when more exist).
   */
  private irrevocableLeases(request: LogicalRequest, count: boolean): InternalResponse | null {
    if (str(request.data.type).toLowerCase() !== 'irrevocable') return null;
    if (count) {
      const { leases } = this.core.leases.irrevocable(0, this.core.namespace.id);
      const counts: Record<string, number> = {};
      for (const lease of leases) counts[lease.mount_id] = (counts[lease.mount_id] ?? 0) + 1;
      return { data: { lease_count: leases.length, counts } };
    }
    const limitText = str(request.data.limit);
    let limit = MAX_IRREVOCABLE_LEASES_TO_RETURN;
    if (limitText.toLowerCase() === 'none') limit = 0;
    else if (limitText !== '') {
      if (!/^[+-]?\d+$/.test(limitText))
        throw badRequest(
          `invalid 'limit' provided: strconv.Atoi: parsing ${JSON.stringify(limitText)}: invalid syntax`,
        );
      limit = Number(limitText);
      if (limit < 1) throw badRequest("limit must be 'none' or a positive integer");
    }
    const { leases, truncated } = this.core.leases.irrevocable(limit, this.core.namespace.id);
    return {
      data: { lease_count: leases.length, leases },
      warnings: truncated ? [MAX_IRREVOCABLE_LEASES_WARNING] : [],
    };
  }

  // ------------------------------------------------------------------ audit devices and remount

  /** `sys/audit/:path`: enable (PUT/POST) or disable (DELETE) a device (Vault's `handleEnableAudit`). */
  private auditPath(request: LogicalRequest, devicePath: string): InternalResponse | null {
    const { operation: op, data } = request;
    if (op === 'delete') {
      this.core.audit.disable(devicePath);
      return null;
    }
    if (op !== 'update' && op !== 'create') throw new LogicalError(405, 'unsupported operation');
    this.core.audit.enable({
      path: devicePath,
      type: str(data.type),
      description: str(data.description),
      options: stringMap(data.options, 'options') ?? {},
      local: parseBool(data.local, 'local') ?? false,
    });
    this.core.log('info', 'enabled audit device', { path: devicePath });
    return null;
  }

  /** Finished mount moves by migration ID (`sys/remount/status/:id`). */
  private readonly migrations = new Map<string, Record<string, string>>();

  /**
   * `sys/remount` (Vault's `handleRemount`, https://github.com/hashicorp/vault/blob/main/vault/logical_system.go):
   * moves a secrets engine or auth method to a new path, revoking its leases (and tokens, for an auth method).
   * Vault moves in the background and answers a `migration_id`; the dev server finishes the move before answering,
   * so `sys/remount/status/:id` reports `success` at once.
   */
  private async remount(from: string, to: string): Promise<InternalResponse> {
    if (!from || !to) throw badRequest("both 'from' and 'to' path must be specified as a string");
    if (/\s/.test(from)) throw badRequest("'from' path cannot contain whitespace");
    if (/\s/.test(to)) throw badRequest("'to' path cannot contain whitespace");
    const clean = (p: string): string => `${p.replace(/^\/+|\/+$/g, '')}/`;
    const source = clean(from);
    const target = clean(to);
    const migrationId = await this.core.remount(source, target);
    this.migrations.set(migrationId, { source_mount: source, target_mount: target, status: 'success' });
    return {
      data: { migration_id: migrationId },
      warnings: [
        "Mount move has been queued. Progress will be reported in Vault's server log, tagged with the returned migration_id",
      ],
    };
  }

  // ------------------------------------------------------------------ the handler

  async handle(request: LogicalRequest): Promise<InternalResponse | null> {
    const { path, operation: op, data } = request;
    const write = op === 'update' || op === 'create';
    const core = this.core;

    if (path === 'namespaces' || path.startsWith('namespaces/')) {
      const rel = path.slice('namespaces'.length).replace(/^\//, '');
      return core.namespaces.handle(core.namespaces.of(core.namespace), request, rel);
    }
    if (path === 'seal') {
      if (!write) throw new LogicalError(405, 'unsupported operation');
      core.seal();
      return null;
    }
    if (path === 'unseal') {
      if (!write) throw new LogicalError(405, 'unsupported operation');
      // Vault's `handleSysUnseal` (https://github.com/hashicorp/vault/blob/main/http/sys_seal.go): a reset while
      // unsealed is refused.
      if (parseBool(data.reset, 'reset')) {
        if (!core.sealed) throw badRequest('vault is unsealed');
        return {
          raw: { status: 200, contentType: 'application/json', body: JSON.stringify(this.sealStatus()) },
        };
      }
      const key = str(data.key);
      if (!key) throw badRequest("'key' must be specified in request body as JSON, or 'reset' set to true");
      core.unseal(key);
      return {
        raw: { status: 200, contentType: 'application/json', body: JSON.stringify(this.sealStatus()) },
      };
    }
    // Audit devices and the barrier key: the root namespace's (Vault's namespace-restricted sys paths).
    const rootOnly = core.namespace.path === '';
    if (rootOnly && (path === 'audit' || path === 'audit/')) {
      if (op !== 'read') throw new LogicalError(405, 'unsupported operation');
      const out: Record<string, unknown> = {};
      for (const device of core.audit.list()) out[device.path] = device;
      return { data: out, injectTopLevel: true };
    }
    if (rootOnly && path.startsWith('audit/')) return this.auditPath(request, path.slice('audit/'.length));
    if (rootOnly && path.startsWith('audit-hash/')) {
      if (!write) throw new LogicalError(405, 'unsupported operation');
      const input = str(data.input);
      if (!input) throw badRequest('the "input" parameter is empty');
      return { data: { hash: core.audit.hash(path.slice('audit-hash/'.length), input) } };
    }
    if (rootOnly && path === 'key-status') {
      if (op !== 'read') throw new LogicalError(405, 'unsupported operation');
      return {
        data: {
          term: 1,
          install_time: new Date(core.keyInstallTime).toISOString(),
          encryptions: core.keyStats.encryptions,
        },
      };
    }
    if (path === 'remount') {
      if (!write) throw new LogicalError(405, 'unsupported operation');
      return this.remount(str(data.from), str(data.to));
    }
    if (path.startsWith('remount/status/')) {
      if (op !== 'read') throw new LogicalError(405, 'unsupported operation');
      const id = path.slice('remount/status/'.length);
      const info = this.migrations.get(id);
      if (!info) return null;
      return { data: { migration_id: id, migration_info: { ...info } } };
    }

    // Mounts
    if (path === 'mounts' || path === 'mounts/') {
      if (op !== 'read') throw new LogicalError(405, 'unsupported operation');
      return { data: this.listMounts('secret'), injectTopLevel: true };
    }
    if (path.startsWith('mounts/')) return this.mountsPath(request, 'secret', path.slice('mounts/'.length));
    if (path === 'auth' || path === 'auth/') {
      if (op !== 'read') throw new LogicalError(405, 'unsupported operation');
      return { data: this.listMounts('auth'), injectTopLevel: true };
    }
    if (path.startsWith('auth/')) return this.mountsPath(request, 'auth', path.slice('auth/'.length));

    // Policies
    if (path === 'policy' || path === 'policy/') {
      if (op === 'read' || op === 'list') {
        const names = this.policyNames();
        return { data: { policies: names, keys: names }, injectTopLevel: true };
      }
      throw new LogicalError(405, 'unsupported operation');
    }
    if (path.startsWith('policy/')) return this.policyPath(request, path.slice('policy/'.length), true);
    if (path === 'policies/acl' || path === 'policies/acl/') {
      if (op !== 'list') throw new LogicalError(405, 'unsupported operation');
      return { data: { keys: this.policyNames() } };
    }
    if (path.startsWith('policies/acl/'))
      return this.policyPath(request, path.slice('policies/acl/'.length), false);

    // Leases
    const leasePath = path.startsWith('leases/') ? path.slice('leases/'.length) : path;
    if (leasePath === 'renew' || leasePath.startsWith('renew/')) {
      if (!write) throw new LogicalError(405, 'unsupported operation');
      const leaseId = this.leaseIdFrom(request, leasePath.slice('renew/'.length));
      if (leaseId.startsWith('auth/')) throw badRequest('tokens cannot be renewed through this endpoint');
      if (leaseId && !this.ownLease(leaseId)) throw badRequest('lease not found');
      const increment = parseDurationSeconds(data.increment, 'increment');
      const { lease, ttl, warnings } = await core.leases.renew(leaseId, increment);
      return {
        leaseFields: { lease_id: lease.leaseId, lease_duration: ttl, renewable: true },
        warnings,
      };
    }
    if (leasePath === 'revoke' || leasePath.startsWith('revoke/')) {
      if (!write) throw new LogicalError(405, 'unsupported operation');
      return this.revokeLease(request, this.leaseIdFrom(request, leasePath.slice('revoke/'.length)));
    }
    if (leasePath.startsWith('revoke-prefix/') || leasePath.startsWith('revoke-force/')) {
      if (!write) throw new LogicalError(405, 'unsupported operation');
      const force = leasePath.startsWith('revoke-force/');
      const prefix = leasePath.slice(leasePath.indexOf('/') + 1);
      if (!prefix) throw badRequest('missing prefix');
      return this.revokePrefix(request, prefix, force);
    }
    if ((path === 'leases' || path === 'leases/count') && op === 'read')
      return this.irrevocableLeases(request, path === 'leases/count');
    if (path === 'leases/lookup' && write) {
      const leaseId = str(data.lease_id);
      if (leaseId && !this.ownLease(leaseId)) throw badRequest('invalid lease');
      return { data: core.leases.lookup(leaseId) };
    }
    if (path.startsWith('leases/lookup/') && op === 'list') {
      const prefix = path.slice('leases/lookup/'.length);
      const keys = new Set<string>();
      for (const id of core.leases.ids()) {
        if (!id.startsWith(prefix) || leaseNamespaceId(id) !== core.namespace.id) continue;
        const rest = id.slice(prefix.length);
        const slash = rest.indexOf('/');
        keys.add(slash < 0 ? rest : rest.slice(0, slash + 1));
      }
      return { data: { keys: [...keys].sort() } };
    }

    // Wrapping
    if (path === 'wrapping/wrap') {
      if (!write) throw new LogicalError(405, 'unsupported operation');
      if (Object.keys(data).length === 0) throw badRequest('empty wrapping data');
      return { data: { ...data } };
    }
    if (path === 'wrapping/unwrap') {
      if (!write) throw new LogicalError(405, 'unsupported operation');
      const envelope = core.unwrap(str(data.token) || undefined);
      return { envelope };
    }
    if (path === 'wrapping/lookup') {
      if (!write && op !== 'read') throw new LogicalError(405, 'unsupported operation');
      const entry = core.wrappedEntry(str(data.token) || undefined);
      if (!entry) throw badRequest('wrapping token is not valid or does not exist');
      return {
        data: {
          creation_path: entry.creationPath,
          creation_time: rfc3339(entry.creationTime),
          creation_ttl: entry.ttl,
        },
      };
    }
    if (path === 'wrapping/rewrap') {
      if (!write) throw new LogicalError(405, 'unsupported operation');
      const entry = core.wrappedEntry(str(data.token) || undefined);
      if (!entry) throw badRequest('wrapping token is not valid or does not exist');
      core.unwrap(entry.token);
      const body = core.wrap(entry.envelope, entry.ttl, entry.creationPath);
      return { raw: { status: 200, contentType: 'application/json', body: JSON.stringify(body) } };
    }

    // UI mounts (KV version detection)
    if (path === 'internal/ui/mounts') {
      if (op !== 'read') throw new LogicalError(405, 'unsupported operation');
      const te = core.tokens.lookup(request.token?.id);
      const acl = te ? core.aclFor(te) : undefined;
      const secret: Record<string, unknown> = {};
      const auth: Record<string, unknown> = {};
      for (const mount of core.mounts.values()) {
        if (!acl?.hasAccessUnder(mount.path)) continue;
        if (mount.kind === 'auth') auth[mount.path.slice('auth/'.length)] = this.mountEntry(mount);
        else secret[mount.path] = this.mountEntry(mount);
      }
      return { data: { secret, auth } };
    }
    if (path.startsWith('internal/ui/mounts/')) {
      if (op !== 'read') throw new LogicalError(405, 'unsupported operation');
      const target = path.slice('internal/ui/mounts/'.length);
      const te = core.tokens.lookup(request.token?.id);
      const mount = core.matchMount(target);
      if (!te || !mount || !core.aclFor(te).hasAccessUnder(mount.path))
        throw new LogicalError(403, 'permission denied');
      return {
        data: { ...this.mountEntry(mount), path: mount.kind === 'auth' ? mount.path.slice(5) : mount.path },
      };
    }

    // Capabilities
    if (path === 'capabilities-self' || path === 'capabilities' || path === 'capabilities-accessor') {
      if (!write) throw new LogicalError(405, 'unsupported operation');
      let te = core.tokens.lookup(request.token?.id);
      if (path === 'capabilities') te = core.tokens.lookup(str(data.token));
      if (path === 'capabilities-accessor') te = core.tokens.lookupAccessor(str(data.accessor));
      if (!te) throw badRequest('invalid token');
      const acl = core.aclFor(te);
      const paths = parseStringList(data.paths ?? data.path, 'paths') ?? [];
      if (paths.length === 0) throw badRequest("'paths' must be specified");
      const out: Record<string, unknown> = {};
      for (const p of paths) out[p] = acl.capabilities(p.replace(/^\/+/, ''));
      if (paths.length === 1) out.capabilities = out[paths[0] as string];
      return { data: out, injectTopLevel: true };
    }

    throw new LogicalError(404, 'unsupported path');
  }
}
