/** Small helpers shared by the engines. */
import { z } from 'zod';
import { leaseOptionsSchema } from '../lease/options.js';
import type { LeaseOptions } from '../lease/types.js';
import { mountPath, parseOptions } from '../validation.js';

/** A role / key name: one path segment. */
export const nameSchema = z
  .string()
  .min(1, 'must not be empty')
  .refine((n) => !n.includes('/') && n.trim() === n, 'must be a single name without "/" or spaces');

/** Validates a role or key name; throws `VAULT_CONFIG` naming `what`. */
export function checkName(value: unknown, what: string): string {
  return parseOptions(nameSchema, value, what);
}

/** Validates a mount; throws `VAULT_CONFIG`. */
export function checkMount(value: unknown, what: string): string {
  return parseOptions(mountPath, value, what);
}

/** Validates lease options given per call. */
export function checkLeaseOptions(value: LeaseOptions, what: string): LeaseOptions {
  return parseOptions(leaseOptionsSchema, value, what);
}

/** Splits `{ mount, ...leaseOptions }`. */
export function splitMount<O extends { mount?: string }>(
  options: O,
  defaultMount: string,
  what: string,
): { mount: string; rest: Omit<O, 'mount'> } {
  const { mount, ...rest } = options;
  return { mount: checkMount(mount ?? defaultMount, `${what}.mount`), rest };
}

/** Encodes each segment of a secret path (keeps the slashes). */
export function encodePath(path: string): string {
  return path
    .split('/')
    .filter((s) => s.length > 0)
    .map(encodeURIComponent)
    .join('/');
}
