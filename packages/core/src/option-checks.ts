/**
 * Plain option checks for the framework adapters and database packages: each mistake becomes a `VAULT_CONFIG`
 * {@link VaultError} naming the function, the option and the fix. Messages describe the type of the value given,
 * never the value itself (an option may hold a secret).
 */
import { VaultError, VaultErrorCode } from './errors.js';
import type { Vault } from './vault.js';

/** The longest delay Node's timers honour (larger delays fire at once). */
export const MAX_TIMER_MS = 2_147_483_647;

/** What an option must be. `ms`: an integer delay 0 … {@link MAX_TIMER_MS}; `positiveMs`: the same, above 0. */
export type OptionKind =
  | 'boolean'
  | 'string'
  | 'function'
  | 'object'
  | 'array'
  | 'vault'
  | 'ms'
  | 'positiveMs'
  | 'positiveInteger'
  | 'nonNegativeInteger';

const EXPECTED: Record<OptionKind, string> = {
  boolean: 'true or false',
  string: 'a non-empty string',
  function: 'a function',
  object: 'an object',
  array: 'an array',
  vault: 'a Vault client (from createVault())',
  ms: `an integer number of milliseconds from 0 to ${MAX_TIMER_MS}`,
  positiveMs: `an integer number of milliseconds from 1 to ${MAX_TIMER_MS}`,
  positiveInteger: 'an integer above 0',
  nonNegativeInteger: 'an integer of 0 or more',
};

function matches(kind: OptionKind, value: unknown): boolean {
  switch (kind) {
    case 'boolean':
      return typeof value === 'boolean';
    case 'string':
      return typeof value === 'string' && value.length > 0;
    case 'function':
      return typeof value === 'function';
    case 'object':
      return typeof value === 'object' && value !== null && !Array.isArray(value);
    case 'array':
      return Array.isArray(value);
    case 'vault':
      return isVault(value);
    case 'ms':
    case 'positiveMs':
      return (
        Number.isInteger(value) &&
        (value as number) >= (kind === 'ms' ? 0 : 1) &&
        (value as number) <= MAX_TIMER_MS
      );
    case 'positiveInteger':
      return Number.isInteger(value) && (value as number) > 0;
    case 'nonNegativeInteger':
      return Number.isInteger(value) && (value as number) >= 0;
  }
}

/** The type of `value` for a message (numbers are shown: they are never secret; strings are not). */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return value.length === 0 ? 'an empty string' : 'a string';
  if (value === undefined) return 'undefined';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/** A `VAULT_CONFIG` error: `Invalid option "<option>" of <fn>: <problem>. <fix>`. */
export function optionError(fn: string, option: string, problem: string, fix: string): VaultError {
  return new VaultError(VaultErrorCode.CONFIG, `Invalid option "${option}" of ${fn}: ${problem}. ${fix}`);
}

/**
 * Throws a `VAULT_CONFIG` error unless `value` is of `kind` (`undefined` passes when the option is optional).
 * `fix` is the hint appended to the message (default: pass a value of the expected kind or leave it out).
 */
export function checkOption(
  fn: string,
  option: string,
  value: unknown,
  kind: OptionKind,
  options: { required?: boolean; fix?: string } = {},
): void {
  if (value === undefined && !options.required) return;
  if (matches(kind, value)) return;
  const expected = EXPECTED[kind];
  const fix =
    options.fix ??
    (options.required ? `Pass ${expected}.` : `Pass ${expected}, or leave it out for the default.`);
  throw optionError(fn, option, `must be ${expected}, got ${describeValue(value)}`, fix);
}

/** Throws a `VAULT_CONFIG` error unless `options` is an object (or `undefined` when `optional`). */
export function checkOptionsObject(fn: string, options: unknown, optional = false): void {
  if (options === undefined && optional) return;
  if (typeof options === 'object' && options !== null && !Array.isArray(options)) return;
  throw new VaultError(
    VaultErrorCode.CONFIG,
    `${fn} needs an options object, got ${describeValue(options)}. Pass one, e.g. ${fn}({ … }); see the package README for its options.`,
  );
}

/** True for a `Vault` instance from any copy of the core (ESM or CommonJS build). */
export function isVault(value: unknown): value is Vault {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.ready === 'function' &&
    typeof v.close === 'function' &&
    typeof v.health === 'function' &&
    typeof v.request === 'function'
  );
}
