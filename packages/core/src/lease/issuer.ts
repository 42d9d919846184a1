/** The seam between engines and the lease container. */
import type { Vault } from '../vault.js';
import type { LeaseSource } from './lease.js';
import type { Lease, LeaseOptions } from './types.js';

/** @internal What an engine needs to create lease handles. */
export interface LeaseIssuer {
  readonly vault: Vault;
  /** The handle for `key` (created from `source` when absent). */
  lease<T>(key: string, source: () => LeaseSource<T>, options: LeaseOptions): Lease<T>;
}
