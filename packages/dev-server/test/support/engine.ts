import { type DevServer, type DevServerOptions, startDevServer } from '../../src/index.js';
import type { Operation } from '../../src/sdk/index.js';
import { call as httpCall } from '../helpers.js';

/** A Vault-shaped answer from a real HTTP call. */
export interface EngineResult {
  status: number;
  data: Record<string, unknown> | null;
  errors: string[] | undefined;
  warnings: string[] | null;
  leaseId: string;
  leaseDuration: number;
  renewable: boolean;
  contentType: string | null;
  /** The raw body text (for non-enveloped endpoints such as `ca/pem`). */
  text: string;
  /** The raw body bytes (for DER endpoints such as `ca`, `crl`). */
  bytes: Buffer;
}

/** A dev server with one engine mounted, and a `call` that speaks logical operations over HTTP. */
export interface EngineHarness {
  server: DevServer;
  mount: string;
  call(operation: Operation, path: string, data?: Record<string, unknown>): Promise<EngineResult>;
  post(path: string, data?: Record<string, unknown>): Promise<EngineResult>;
  close(): Promise<void>;
}

/** Starts a dev server and mounts `type` at `mount` through `POST /v1/sys/mounts/:mount`. */
export async function startEngine(
  type: 'transit' | 'pki',
  mount: string = type,
  config?: Record<string, unknown>,
  options: Omit<DevServerOptions, 'devMounts'> = {},
): Promise<EngineHarness> {
  const server = await startDevServer({ ...options, devMounts: false });
  const mounted = await httpCall(server, 'POST', `sys/mounts/${mount}`, {
    body: { type, ...(config ? { config } : {}) },
  });
  if (mounted.status !== 204) throw new Error(`mounting ${type} failed: ${mounted.status} ${mounted.text}`);
  const call = async (operation: Operation, path: string, data: Record<string, unknown> = {}) => {
    const url = `${server.url}/v1/${mount}/${path}`;
    const headers: Record<string, string> = { 'x-vault-token': server.rootToken };
    let method: string;
    let target = url;
    let body: string | undefined;
    if (operation === 'read' || operation === 'list' || operation === 'delete') {
      // LIST is sent as `GET ?list=true`, as the Go client does.
      method = operation === 'delete' ? 'DELETE' : 'GET';
      const query = new URLSearchParams(operation === 'list' ? { list: 'true' } : {});
      for (const [key, value] of Object.entries(data)) query.set(key, String(value));
      if ([...query.keys()].length) target = `${url}?${query.toString()}`;
    } else {
      method = operation === 'patch' ? 'PATCH' : 'POST';
      headers['content-type'] = operation === 'patch' ? 'application/merge-patch+json' : 'application/json';
      body = JSON.stringify(data);
    }
    const response = await fetch(target, { method, headers, body });
    const bytes = Buffer.from(await response.arrayBuffer());
    const text = bytes.toString('utf8');
    const contentType = response.headers.get('content-type');
    let parsed: Record<string, unknown> = {};
    if (contentType?.includes('application/json') && text)
      parsed = JSON.parse(text) as Record<string, unknown>;
    return {
      status: response.status,
      data: (parsed.data as Record<string, unknown> | null | undefined) ?? null,
      errors: parsed.errors as string[] | undefined,
      warnings: (parsed.warnings as string[] | null | undefined) ?? null,
      leaseId: String(parsed.lease_id ?? ''),
      leaseDuration: Number(parsed.lease_duration ?? 0),
      renewable: parsed.renewable === true,
      contentType,
      text,
      bytes,
    };
  };
  return {
    server,
    mount,
    call,
    post: (path, data) => call('update', path, data),
    close: () => server.close(),
  };
}
