/**
 * Request-field parsing shared by the transit and PKI engines: Vault's `framework.FieldData` coercions (JSON values
 * or form strings) and Go's strict standard base64.
 */
import { LogicalError } from '../../backend.js';
import { parseDurationSeconds } from '../../util/duration.js';

type Data = Readonly<Record<string, unknown>>;

const fieldError = (field: string, detail: string): LogicalError =>
  new LogicalError(400, `invalid value for field "${field}": ${detail}`);

/** True when the field is present (not `undefined`/`null`). */
export function has(data: Data, field: string): boolean {
  return data[field] !== undefined && data[field] !== null;
}

/** A string field (numbers and booleans are stringified, as Vault's weak decoding does). */
export function getString(data: Data, field: string, fallback = ''): string {
  const value = data[field];
  if (value === undefined || value === null) return fallback;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw fieldError(field, 'expected a string');
}

/** An integer field (JSON number or numeric string). */
export function getInt(data: Data, field: string, fallback = 0): number {
  const value = data[field];
  if (value === undefined || value === null || value === '') return fallback;
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  if (typeof value === 'string' && /^-?\d+$/.test(value.trim())) return Number.parseInt(value.trim(), 10);
  throw fieldError(field, 'expected an integer');
}

/** A boolean field (JSON boolean, or Go's ParseBool strings: `true`, `1`, `t`, `false`, `0`, `f`, …). */
export function getBool(data: Data, field: string, fallback = false): boolean {
  const value = data[field];
  if (value === undefined || value === null || value === '') return fallback;
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number') return value !== 0;
  if (typeof value === 'string') {
    const v = value.trim();
    if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(v)) return true;
    if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(v)) return false;
  }
  throw fieldError(field, 'expected a boolean');
}

/** A duration field in seconds (Go duration string or integer seconds). */
export function getDuration(data: Data, field: string, fallback = 0): number {
  if (!has(data, field) || data[field] === '') return fallback;
  return parseDurationSeconds(data[field], field);
}

/** A list of strings: a JSON array, or a comma-separated string (Vault's `TypeCommaStringSlice`). */
export function getStringList(data: Data, field: string): string[] {
  const value = data[field];
  if (value === undefined || value === null || value === '') return [];
  if (Array.isArray(value)) {
    return value.map((item) => {
      if (typeof item === 'string') return item.trim();
      if (typeof item === 'number') return String(item);
      throw fieldError(field, 'expected a list of strings');
    });
  }
  if (typeof value === 'string')
    return value
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
  throw fieldError(field, 'expected a list of strings or a comma-separated string');
}

/** Thrown by {@link decodeBase64Std} with Go's `base64.CorruptInputError` text. */
export class Base64Error extends Error {
  constructor(offset: number) {
    super(`illegal base64 data at input byte ${offset}`);
    this.name = 'Base64Error';
  }
}

const B64_ALPHABET = /[A-Za-z0-9+/]/;

/**
 * Decodes standard, padded base64 strictly as Go's `base64.StdEncoding.DecodeString` does (CR/LF ignored), throwing
 * {@link Base64Error} with Go's `illegal base64 data at input byte N` for bad input.
 */
export function decodeBase64Std(input: string): Buffer {
  let quantumStart = 0;
  let inQuantum = 0;
  let padding = 0;
  let clean = '';
  for (let i = 0; i < input.length; i++) {
    const ch = input[i] as string;
    if (ch === '\r' || ch === '\n') continue;
    if (padding > 0) {
      if (ch !== '=' || inQuantum + padding >= 4) throw new Base64Error(i);
      padding++;
      continue;
    }
    if (ch === '=') {
      if (inQuantum < 2) throw new Base64Error(i);
      padding = 1;
      continue;
    }
    if (!B64_ALPHABET.test(ch)) throw new Base64Error(i);
    if (inQuantum === 0) quantumStart = i;
    clean += ch;
    inQuantum = (inQuantum + 1) % 4;
  }
  if (padding > 0 && inQuantum + padding !== 4) throw new Base64Error(input.length);
  if (padding === 0 && inQuantum !== 0) throw new Base64Error(quantumStart);
  return Buffer.from(clean, 'base64');
}

/** Standard padded base64. */
export function encodeBase64Std(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64');
}
