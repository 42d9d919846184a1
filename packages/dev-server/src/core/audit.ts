/**
 * Audit devices (`sys/audit`, `sys/audit-hash`): the `file` device writes one JSON line per request and per
 * response in the shape of Vault's audit entries (https://github.com/hashicorp/vault/blob/main/audit/types.go), with
 * every string value of request and response data, client tokens and (unless `hmac_accessor=false`) accessors
 * replaced by `hmac-sha256:<hex>` under the device's own salt
 * (https://github.com/hashicorp/vault/blob/main/audit/hashstructure.go). `log_raw=true` writes the values as they are.
 */
import { createHmac } from 'node:crypto';
import { closeSync, openSync, writeSync } from 'node:fs';
import { parseBool } from '../sdk/fields.js';
import { badRequest, LogicalError } from '../sdk/index.js';
import { uuid } from '../util/random.js';

/** An enabled audit device as `sys/audit` lists it. */
export interface AuditDeviceInfo {
  path: string;
  type: string;
  description: string;
  options: Record<string, string>;
  local: boolean;
}

/** What the core knows of one request, for its audit entries. */
export interface AuditRecord {
  time: string;
  /** The token used, when there was one that exists. */
  auth?: {
    clientToken: string;
    accessor: string;
    displayName: string;
    policies: string[];
    metadata: Record<string, string> | null;
    entityId: string;
    tokenType: string;
    ttl: number;
    issueTime: string;
  };
  request: {
    id: string;
    operation: string;
    path: string;
    data: Record<string, unknown>;
    clientToken: string;
    mount?: { path: string; type: string; accessor: string; kind: string };
    namespace: { id: string; path: string };
    remoteAddress: string;
    wrapTtl: number;
  };
  /** The reply: status and parsed JSON body (undefined for an empty body). */
  status: number;
  body: Record<string, unknown> | undefined;
}

interface Device extends AuditDeviceInfo {
  salt: string;
  hmacAccessor: boolean;
  logRaw: boolean;
  elideListResponses: boolean;
  prefix: string;
  /** `undefined` = discard; `'stdout'` = the process's stdout; else an open file descriptor. */
  sink: number | 'stdout' | undefined;
}

const HMAC_PREFIX = 'hmac-sha256:';

function boolOption(options: Record<string, string>, key: string, fallback: boolean): boolean {
  const value = options[key];
  if (value === undefined || value === '') return fallback;
  try {
    return parseBool(value, key) ?? fallback;
  } catch {
    throw badRequest(`unable to parse '${key}': invalid configuration`);
  }
}

/** Vault's `HashStructure`: every string leaf (and every number of request data, a `json.Number` there). */
function hashStructure(value: unknown, hash: (s: string) => string, numbers: boolean): unknown {
  if (typeof value === 'string') return hash(value);
  if (numbers && typeof value === 'number') return hash(String(value));
  if (Array.isArray(value)) return value.map((v) => hashStructure(v, hash, numbers));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = hashStructure(v, hash, numbers);
    return out;
  }
  return value;
}

function omitEmpty(entry: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(entry)) {
    if (v === undefined || v === null || v === '' || v === false || v === 0) continue;
    if (Array.isArray(v) && v.length === 0) continue;
    if (typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0) continue;
    out[k] = v;
  }
  return out;
}

/** The audit devices of a server (they live in the root namespace and see every namespace's requests). */
export class AuditBroker {
  private readonly devices = new Map<string, Device>();

  /** Whether any device is enabled (entries are built only then). */
  get enabled(): boolean {
    return this.devices.size > 0;
  }

  list(): AuditDeviceInfo[] {
    return [...this.devices.values()].map(({ path, type, description, options, local }) => ({
      path,
      type,
      description,
      options: { ...options },
      local,
    }));
  }

  /** Enables a device (`sys/audit/:path`); 400 on a bad type, option or a path in use. */
  enable(params: {
    path: string;
    type: string;
    description: string;
    options: Record<string, string>;
    local: boolean;
  }): void {
    const path = `${params.path.replace(/^\/+|\/+$/g, '')}/`;
    if (path === '/') throw badRequest('backend path must be specified');
    for (const existing of this.devices.keys())
      if (existing.startsWith(path) || path.startsWith(existing)) throw badRequest('path already in use');
    if (params.type !== 'file')
      throw badRequest(
        params.type === 'socket' || params.type === 'syslog'
          ? `the dev server supports only the "file" audit device, not "${params.type}"`
          : `unknown backend type: "${params.type}"`,
      );
    const options = { ...params.options };
    const format = options.format ?? 'json';
    if (format !== 'json')
      throw badRequest(
        format === 'jsonx'
          ? 'the dev server writes only the "json" audit format'
          : `unsupported "format": invalid configuration`,
      );
    const filePath = (options.file_path ?? options.path ?? '').trim();
    if (options.file_path === undefined && options.path === undefined)
      throw badRequest('"file_path" is required: invalid configuration');
    if (!filePath) throw badRequest('file path is required: invalid configuration');
    const device: Device = {
      path,
      type: params.type,
      description: params.description,
      options,
      local: params.local,
      salt: uuid(),
      hmacAccessor: boolOption(options, 'hmac_accessor', true),
      logRaw: boolOption(options, 'log_raw', false),
      elideListResponses: boolOption(options, 'elide_list_responses', false),
      prefix: options.prefix ?? '',
      sink: undefined,
    };
    const lower = filePath.toLowerCase();
    if (lower === 'stdout') device.sink = 'stdout';
    else if (lower !== 'discard') {
      let mode = 0o600;
      if (options.mode !== undefined && options.mode !== '') {
        if (!/^[0-7]{1,4}$/.test(options.mode))
          throw badRequest(`unable to parse file mode "${options.mode}": invalid configuration`);
        mode = Number.parseInt(options.mode, 8);
      }
      try {
        device.sink = openSync(filePath, 'a', mode);
      } catch (error) {
        throw badRequest(
          `file sink creation failed for path "${filePath}": ${(error as NodeJS.ErrnoException).code ?? 'cannot open'}`,
        );
      }
    }
    this.devices.set(path, device);
  }

  /** Disables a device; `false` when there was none at `path`. */
  disable(path: string): boolean {
    const key = `${path.replace(/^\/+|\/+$/g, '')}/`;
    const device = this.devices.get(key);
    if (!device) return false;
    this.devices.delete(key);
    if (typeof device.sink === 'number') closeSync(device.sink);
    return true;
  }

  /** `sys/audit-hash/:path`: the device's HMAC of `input`. */
  hash(path: string, input: string): string {
    const key = `${path.replace(/^\/+|\/+$/g, '')}/`;
    const device = this.devices.get(key);
    if (!device) throw badRequest(`unknown audit backend "${key}"`);
    return this.hmac(device, input);
  }

  /** An accessor as the device writes it: HMAC'd unless `hmac_accessor=false` or `log_raw`; `''` when none. */
  private accessorText(device: Device, value: unknown): string {
    if (typeof value !== 'string') return '';
    return device.hmacAccessor && !device.logRaw ? this.hmac(device, value) : value;
  }

  private hmac(device: Device, value: string): string {
    return `${HMAC_PREFIX}${createHmac('sha256', device.salt).update(value).digest('hex')}`;
  }

  /** Writes the request and response entries of one request to every device; 500 when a write fails. */
  log(record: AuditRecord): void {
    for (const device of this.devices.values()) {
      const lines = [this.requestEntry(device, record), this.responseEntry(device, record)]
        .map((entry) => `${device.prefix}${JSON.stringify(entry)}\n`)
        .join('');
      try {
        if (device.sink === 'stdout') process.stdout.write(lines);
        else if (typeof device.sink === 'number') writeSync(device.sink, lines);
      } catch {
        throw new LogicalError(500, `audit: writing to the audit device "${device.path}" failed`);
      }
    }
  }

  /** Closes every file. */
  close(): void {
    for (const path of [...this.devices.keys()]) this.disable(path);
  }

  private authEntry(device: Device, record: AuditRecord): Record<string, unknown> {
    const auth = record.auth;
    if (!auth) return { policy_results: { allowed: record.status !== 403 }, token_type: 'default' };
    const h = (s: string): string => (device.logRaw ? s : this.hmac(device, s));
    return omitEmpty({
      client_token: h(auth.clientToken),
      accessor: this.accessorText(device, auth.accessor),
      display_name: auth.displayName,
      policies: auth.policies,
      token_policies: auth.policies,
      policy_results: { allowed: record.status !== 403 },
      metadata: auth.metadata,
      entity_id: auth.entityId,
      token_type: auth.tokenType,
      token_ttl: auth.ttl,
      token_issue_time: auth.issueTime,
    });
  }

  private requestBlock(device: Device, record: AuditRecord): Record<string, unknown> {
    const r = record.request;
    const h = (s: string): string => (device.logRaw ? s : this.hmac(device, s));
    return omitEmpty({
      id: r.id,
      client_token: r.clientToken ? h(r.clientToken) : '',
      client_token_accessor: this.accessorText(device, record.auth?.accessor),
      operation: r.operation,
      mount_point: r.mount?.path,
      mount_type: r.mount?.type,
      mount_accessor: r.mount?.accessor,
      mount_class: r.mount ? (r.mount.kind === 'auth' ? 'auth' : 'secret') : '',
      namespace: r.namespace.path ? { id: r.namespace.id, path: r.namespace.path } : { id: 'root' },
      path: r.path,
      data: device.logRaw ? r.data : hashStructure(r.data, (s) => this.hmac(device, s), true),
      remote_address: r.remoteAddress,
      wrap_ttl: r.wrapTtl,
    });
  }

  private requestEntry(device: Device, record: AuditRecord): Record<string, unknown> {
    return omitEmpty({
      time: record.time,
      type: 'request',
      auth: this.authEntry(device, record),
      request: this.requestBlock(device, record),
      error: this.errorText(record),
    });
  }

  private errorText(record: AuditRecord): string {
    const errors = record.body?.errors;
    return record.status >= 400 && Array.isArray(errors) ? errors.join(', ') : '';
  }

  private responseEntry(device: Device, record: AuditRecord): Record<string, unknown> {
    const body = record.body;
    const h = (s: string): string => (device.logRaw ? s : this.hmac(device, s));
    const hashData = (value: unknown): unknown =>
      device.logRaw ? value : hashStructure(value, (s) => this.hmac(device, s), false);
    let response: Record<string, unknown> = {};
    if (body && record.status < 400) {
      let data = body.data as Record<string, unknown> | null | undefined;
      if (device.elideListResponses && record.request.operation === 'list' && data) {
        data = { ...data };
        if (Array.isArray(data.keys)) data.keys = data.keys.length;
        if (data.key_info && typeof data.key_info === 'object')
          data.key_info = Object.keys(data.key_info).length;
      }
      const auth = body.auth as Record<string, unknown> | null | undefined;
      const wrap = body.wrap_info as Record<string, unknown> | null | undefined;
      response = omitEmpty({
        mount_point: record.request.mount?.path,
        mount_type: record.request.mount?.type,
        mount_accessor: record.request.mount?.accessor,
        mount_class: record.request.mount ? (record.request.mount.kind === 'auth' ? 'auth' : 'secret') : '',
        auth: auth
          ? omitEmpty({
              client_token: typeof auth.client_token === 'string' ? h(auth.client_token) : '',
              accessor: this.accessorText(device, auth.accessor),
              display_name: auth.display_name,
              policies: auth.policies,
              token_policies: auth.token_policies,
              metadata: auth.metadata,
              entity_id: auth.entity_id,
              token_type: auth.token_type,
              token_ttl: auth.lease_duration,
            })
          : undefined,
        secret: typeof body.lease_id === 'string' && body.lease_id ? { lease_id: body.lease_id } : undefined,
        data: data ? hashData(data) : undefined,
        wrap_info: wrap
          ? omitEmpty({
              token: typeof wrap.token === 'string' ? h(wrap.token) : '',
              accessor: this.accessorText(device, wrap.accessor),
              ttl: wrap.ttl,
              creation_time: wrap.creation_time,
              creation_path: wrap.creation_path,
              wrapped_accessor: wrap.wrapped_accessor,
            })
          : undefined,
        warnings: body.warnings,
      });
    }
    return omitEmpty({
      time: record.time,
      type: 'response',
      auth: this.authEntry(device, record),
      request: this.requestBlock(device, record),
      response,
      error: this.errorText(record),
    });
  }
}
