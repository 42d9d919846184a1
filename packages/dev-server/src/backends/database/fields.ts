/**
 * Request field parsing with Vault's framework semantics (`TypeString`, `TypeBool`, `TypeInt`,
 * `TypeStringSlice`, `TypeCommaStringSlice`, `TypeDurationSecond`). Bad input → 400 naming the field.
 */
import { badRequest } from '../../backend.js';
import { parseDurationSeconds } from '../../util/duration.js';

type Data = Readonly<Record<string, unknown>>;

/** True when the field was sent (Vault's `GetOk`). */
export function has(data: Data, key: string): boolean {
  return Object.hasOwn(data, key) && data[key] !== undefined && data[key] !== null;
}

/** `TypeString`: strings, and numbers/booleans converted to their text. */
export function getString(data: Data, key: string): string | undefined {
  if (!has(data, key)) return undefined;
  const value = data[key];
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw badRequest(`invalid value for "${key}": expected a string`);
}

/** `TypeBool`: booleans, Go `ParseBool` strings (`1`, `t`, `true`, `0`, `f`, `false`, …) and 0/1. */
export function getBool(data: Data, key: string): boolean | undefined {
  if (!has(data, key)) return undefined;
  const value = data[key];
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number' && (value === 0 || value === 1)) return value === 1;
  if (typeof value === 'string') {
    if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return true;
    if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(value)) return false;
  }
  throw badRequest(`invalid value for "${key}": expected a boolean`);
}

/** `TypeInt`: integers or integer strings. */
export function getInt(data: Data, key: string): number | undefined {
  if (!has(data, key)) return undefined;
  const value = data[key];
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  if (typeof value === 'string' && /^-?\d+$/.test(value.trim())) return Number.parseInt(value, 10);
  throw badRequest(`invalid value for "${key}": expected an integer`);
}

/** `TypeDurationSecond`: seconds, or a Go duration string. */
export function getDuration(data: Data, key: string): number | undefined {
  if (!has(data, key)) return undefined;
  return parseDurationSeconds(data[key], key);
}

/** `TypeStringSlice`: an array of strings, or a single string lifted to a one-element list; empty entries dropped. */
export function getStringSlice(data: Data, key: string): string[] | undefined {
  if (!has(data, key)) return undefined;
  const value = data[key];
  const items = Array.isArray(value) ? value : [value];
  return items
    .map((item) => {
      if (typeof item === 'string') return item;
      if (typeof item === 'number' || typeof item === 'boolean') return String(item);
      throw badRequest(`invalid value for "${key}": expected a string or a list of strings`);
    })
    .filter((item) => item.trim() !== '');
}

/** `TypeCommaStringSlice`: an array of strings, or a comma-separated string; entries trimmed, empty ones dropped. */
export function getCommaStringSlice(data: Data, key: string): string[] | undefined {
  if (!has(data, key)) return undefined;
  const value = data[key];
  const items = typeof value === 'string' ? value.split(',') : Array.isArray(value) ? value : [value];
  return items
    .map((item) => {
      if (typeof item === 'string') return item.trim();
      if (typeof item === 'number' || typeof item === 'boolean') return String(item);
      throw badRequest(`invalid value for "${key}": expected a comma-separated string or a list of strings`);
    })
    .filter((item) => item !== '');
}
