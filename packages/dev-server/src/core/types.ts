import type { Backend, LogicalResponse } from '../sdk/index.js';
import type { NamespaceRef } from './namespaces.js';

/** Vault's system-wide default and max lease TTL (768h). */
export const SYSTEM_DEFAULT_TTL = 2_764_800;
export const SYSTEM_MAX_TTL = 2_764_800;

/** The Vault version the dev server reports. */
export const VAULT_VERSION = '1.17.6';

/** A mounted secrets engine or auth method. */
export interface Mount {
  /** With trailing slash: `secret/`, `auth/approle/`, `sys/`. */
  path: string;
  readonly type: string;
  readonly kind: 'secret' | 'auth' | 'system';
  description: string;
  readonly accessor: string;
  readonly uuid: string;
  options: Record<string, string>;
  /** Tuned values in seconds; 0 = system default. */
  defaultLeaseTtl: number;
  maxLeaseTtl: number;
  readonly local: boolean;
  readonly sealWrap: boolean;
  backend: Backend;
  /** The namespace the mount lives in (undefined = root). */
  readonly namespace?: NamespaceRef;
}

/** Extra fields the built-in (system/token) backends may set on a response. */
export interface InternalResponse extends LogicalResponse {
  /** A ready-made `auth` block (token store create/renew). */
  authBlock?: Record<string, unknown>;
  /** Top-level lease fields (sys/leases/renew). */
  leaseFields?: { lease_id: string; lease_duration: number; renewable: boolean };
  /** Copy `data`'s keys to the top level of the envelope (sys/mounts, sys/auth, sys/policy …). */
  injectTopLevel?: boolean;
  /** Replace the whole reply body with this envelope (unwrap). */
  envelope?: Record<string, unknown>;
}

/** The logger a server writes diagnostics to. Never receives secret values. */
export type DevServerLogger = (
  level: 'debug' | 'info' | 'warn' | 'error',
  message: string,
  fields?: Record<string, unknown>,
) => void;

/** Effective default TTL of a mount in seconds. */
export function mountDefaultTtl(mount: Mount): number {
  const max = mountMaxTtl(mount);
  const value = mount.defaultLeaseTtl > 0 ? mount.defaultLeaseTtl : SYSTEM_DEFAULT_TTL;
  return Math.min(value, max);
}

/** Effective max TTL of a mount in seconds. */
export function mountMaxTtl(mount: Mount): number {
  return mount.maxLeaseTtl > 0 ? mount.maxLeaseTtl : SYSTEM_MAX_TTL;
}
