/**
 * The one request-field parser of the dev server, with the rules of Vault's `framework.FieldData`
 * (https://github.com/hashicorp/vault/blob/main/sdk/framework/field_data.go), its weakly-typed decoding and
 * `parseutil` (https://github.com/hashicorp/go-secure-stdlib/blob/main/parseutil/parseutil.go). Every backend and
 * the system backend read request fields through it, so a value means the same thing on every path.
 *
 * The rules, per {@link FieldType}:
 * - JSON `null` (or a missing key) means "not given": the getters return `undefined` and `FieldData.get` the
 *   schema default.
 * - `bool`: JSON booleans, the numbers `1`/`0`, and Go's `strconv.ParseBool` spellings
 *   (`1 t T TRUE true True 0 f F FALSE false False`); `""` is `false`. Anything else (`"tRuE"`, `2`, `"yes"`) is an error.
 * - `int`: integer numbers; strings as Go's `strconv.ParseInt(s, 0, 64)` (sign, `0x`/`0o`/`0b`/leading-`0` prefixes,
 *   `_` between digits); `""` is `0`; `true`/`false` are `1`/`0`; `1.5` is an error.
 * - `duration` (`TypeDurationSecond`): numbers are seconds (fractions truncated); strings are integer seconds,
 *   `<int>d` days, or Go duration strings (`90s`, `1h30m`, `1.5h`); `""` is `0`; negative values are an error.
 *   `signed-duration` allows negative values.
 * - `string`: strings; numbers as their text; booleans as `"1"`/`"0"` (Go's weak decoding).
 * - `comma-string-slice`: a JSON array, or a string split on `,`; entries trimmed (empty entries are kept, as Vault
 *   keeps them); `""` is `[]`.
 * - `string-slice`: a JSON array, or one string lifted to a one-element list (not split); `""` is `[]`.
 * - `map`: a JSON object; `kv-pairs`: an object of strings or a list of `key=value` strings.
 *
 * A value that does not convert is a 400 with Vault's text:
 * `Field validation failed: error converting input <value> for field "<name>": <reason>`. The input is echoed only
 * for numbers, booleans and durations, never for string-typed fields (which may hold secrets).
 */
import { LogicalError } from './logical.js';

/** The field types of Vault's `framework.FieldType` that the dev server's engines use. */
export type FieldType =
  | 'string'
  | 'lowercase-string'
  | 'name-string'
  | 'int'
  | 'float'
  | 'bool'
  | 'duration'
  | 'signed-duration'
  | 'string-slice'
  | 'comma-string-slice'
  | 'comma-int-slice'
  | 'slice'
  | 'map'
  | 'kv-pairs';

/** The parsed value of each {@link FieldType}. */
export interface FieldValueTypes {
  string: string;
  'lowercase-string': string;
  'name-string': string;
  int: number;
  float: number;
  bool: boolean;
  duration: number;
  'signed-duration': number;
  'string-slice': string[];
  'comma-string-slice': string[];
  'comma-int-slice': number[];
  slice: unknown[];
  map: Record<string, unknown>;
  'kv-pairs': Record<string, string>;
}

/** One field of a path (Vault's `framework.FieldSchema`). */
export interface FieldSchema {
  readonly type: FieldType;
  /** Returned by `FieldData.get` when the field is not given (durations may be given as `"1h"`). */
  readonly default?: unknown;
  readonly description?: string;
}

/** The fields of a path by name. */
export type FieldSchemas = Readonly<Record<string, FieldSchema>>;

/** A conversion failure: the reason text in Go's wording, without the `error converting input` prefix. */
class ConversionError extends Error {}

const ECHOED_TYPES: ReadonlySet<FieldType> = new Set([
  'bool',
  'int',
  'float',
  'duration',
  'signed-duration',
  'comma-int-slice',
]);

/** Go's `%v` of a decoded JSON value (`[a b]`, `map[k:v]`, `<nil>`). */
function goFormat(value: unknown): string {
  if (value === null || value === undefined) return '<nil>';
  if (Array.isArray(value)) return `[${value.map(goFormat).join(' ')}]`;
  if (typeof value === 'object') {
    const entries = Object.keys(value)
      .sort()
      .map((key) => `${key}:${goFormat((value as Record<string, unknown>)[key])}`);
    return `map[${entries.join(' ')}]`;
  }
  return String(value);
}

/** Go's type name of a decoded JSON value, as mapstructure prints it. */
function goType(value: unknown): string {
  if (Array.isArray(value)) return '[]interface {}';
  if (value !== null && typeof value === 'object') return 'map[string]interface {}';
  if (typeof value === 'number') return 'json.Number';
  return typeof value;
}

const invalidSyntax = (fn: string, text: string): ConversionError =>
  new ConversionError(`strconv.${fn}: parsing ${JSON.stringify(text)}: invalid syntax`);

// ---------------------------------------------------------------------------------------------------------------
// Go's strconv and time parsers

const TRUE_STRINGS: ReadonlySet<string> = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);
const FALSE_STRINGS: ReadonlySet<string> = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False']);

/** Go's `strconv.ParseBool`. */
function goParseBool(text: string): boolean {
  if (TRUE_STRINGS.has(text)) return true;
  if (FALSE_STRINGS.has(text)) return false;
  throw invalidSyntax('ParseBool', text);
}

/** Go's `strconv.ParseInt(text, base, 64)` for base 10 or base 0 (prefixes and `_` separators). */
function goParseInt(text: string, base: 0 | 10): number {
  let rest = text;
  let sign = 1n;
  if (rest.startsWith('+') || rest.startsWith('-')) {
    if (rest.startsWith('-')) sign = -1n;
    rest = rest.slice(1);
  }
  let radix = 10;
  let underscores = false;
  if (base === 0) {
    underscores = true;
    const prefix = rest.slice(0, 2).toLowerCase();
    if (prefix === '0x') [radix, rest] = [16, rest.slice(2)];
    else if (prefix === '0o') [radix, rest] = [8, rest.slice(2)];
    else if (prefix === '0b') [radix, rest] = [2, rest.slice(2)];
    else if (rest.length > 1 && rest.startsWith('0')) [radix, rest] = [8, rest.slice(1)];
  }
  const digits = underscores ? rest.replace(/(?<=[0-9a-zA-Z])_(?=[0-9a-zA-Z])/g, '') : rest;
  const alphabet = '0123456789abcdef'.slice(0, radix);
  if (digits === '' || [...digits.toLowerCase()].some((c) => !alphabet.includes(c)))
    throw invalidSyntax('ParseInt', text);
  let value = 0n;
  for (const c of digits.toLowerCase()) value = value * BigInt(radix) + BigInt(alphabet.indexOf(c));
  value *= sign;
  if (value > 9223372036854775807n || value < -9223372036854775808n)
    throw new ConversionError(`strconv.ParseInt: parsing ${JSON.stringify(text)}: value out of range`);
  return Number(value);
}

const DURATION_UNITS: Readonly<Record<string, number>> = {
  ns: 1e-9,
  us: 1e-6,
  µs: 1e-6,
  μs: 1e-6,
  ms: 1e-3,
  s: 1,
  m: 60,
  h: 3600,
};

/** Go's `time.ParseDuration`, in (fractional) seconds. */
function goParseDuration(text: string): number {
  const quoted = JSON.stringify(text);
  let rest = text;
  let negative = false;
  if (rest.startsWith('+') || rest.startsWith('-')) {
    negative = rest.startsWith('-');
    rest = rest.slice(1);
  }
  if (rest === '0') return 0;
  if (rest === '') throw new ConversionError(`time: invalid duration ${quoted}`);
  let total = 0;
  while (rest !== '') {
    const number = /^(\d*)(?:\.(\d*))?/.exec(rest);
    const whole = number?.[1] ?? '';
    const fraction = number?.[2];
    if (whole === '' && (fraction === undefined || fraction === ''))
      throw new ConversionError(`time: invalid duration ${quoted}`);
    rest = rest.slice(number?.[0].length ?? 0);
    const unit = /^[^\d.]+/.exec(rest)?.[0] ?? '';
    if (unit === '') throw new ConversionError(`time: missing unit in duration ${quoted}`);
    const scale = DURATION_UNITS[unit];
    if (scale === undefined)
      throw new ConversionError(`time: unknown unit ${JSON.stringify(unit)} in duration ${quoted}`);
    rest = rest.slice(unit.length);
    total += Number.parseFloat(`${whole || '0'}.${fraction ?? ''}`) * scale;
  }
  if (total * 1e9 > 2 ** 63 - 1) throw new ConversionError(`time: invalid duration ${quoted}`);
  return negative ? -total : total;
}

/**
 * Vault's `parseutil.ParseDurationSecond`, in whole seconds (truncated towards zero): a number of seconds, a string
 * of integer seconds, `<int>d` days, or a Go duration string; `""` is 0. Negative values are allowed here.
 */
function durationSeconds(value: unknown): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new ConversionError('could not parse duration from input');
    // A JSON number reaches Vault as json.Number text: integers are seconds, `1.5` has no unit.
    if (Number.isInteger(value)) return value;
    return Math.trunc(goParseDuration(String(value)));
  }
  if (typeof value !== 'string') throw new ConversionError('could not parse duration from input');
  if (value === '') return 0;
  if (/^[+-]?\d+$/.test(value)) return goParseInt(value, 10);
  if (value.endsWith('d')) return goParseInt(value.slice(0, -1), 10) * 86_400;
  return Math.trunc(goParseDuration(value));
}

// ---------------------------------------------------------------------------------------------------------------
// Weak decoding (mapstructure's WeaklyTypedInput)

function toBool(value: unknown): boolean {
  if (typeof value === 'boolean') return value;
  // A JSON number arrives as json.Number text: only 1 and 0 parse.
  if (typeof value === 'number') return goParseBoolPrefixed(String(value));
  if (typeof value === 'string') return value === '' ? false : goParseBoolPrefixed(value);
  throw new ConversionError(`'' expected type 'bool', got unconvertible type '${goType(value)}'`);
}

function goParseBoolPrefixed(text: string): boolean {
  try {
    return goParseBool(text);
  } catch (error) {
    throw new ConversionError(`cannot parse '' as bool: ${(error as Error).message}`);
  }
}

function toInt(value: unknown): number {
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'number' || typeof value === 'string') {
    const text = typeof value === 'number' ? String(value) : value === '' ? '0' : value;
    if (typeof value === 'number' && Number.isInteger(value)) return value;
    try {
      return goParseInt(text, 0);
    } catch (error) {
      throw new ConversionError(`cannot parse '' as int: ${(error as Error).message}`);
    }
  }
  throw new ConversionError(`'' expected type 'int', got unconvertible type '${goType(value)}'`);
}

function toFloat(value: unknown): number {
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'number') return value;
  if (typeof value === 'string') {
    const text = value === '' ? '0' : value;
    const parsed = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text) ? Number(text) : Number.NaN;
    if (Number.isNaN(parsed))
      throw new ConversionError(
        `cannot parse '' as float: strconv.ParseFloat: parsing ${JSON.stringify(text)}: invalid syntax`,
      );
    return parsed;
  }
  throw new ConversionError(`'' expected type 'float64', got unconvertible type '${goType(value)}'`);
}

function weakString(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  if (typeof value === 'boolean') return value ? '1' : '0';
  throw new ConversionError(`'' expected type 'string', got unconvertible type '${goType(value)}'`);
}

/** A weak decode into `[]string`: arrays element by element; a single value lifted to a one-element list. */
function toStringList(value: unknown, splitStrings: boolean): string[] {
  if (typeof value === 'string') {
    if (value === '') return [];
    return splitStrings ? value.split(',') : [value];
  }
  if (Array.isArray(value)) return value.map((item) => weakString(item));
  if (value !== null && typeof value === 'object') {
    if (Object.keys(value).length === 0) return [];
    throw new ConversionError(`'[0]' expected type 'string', got unconvertible type '${goType(value)}'`);
  }
  return [weakString(value)];
}

function toMap(value: unknown): Record<string, unknown> {
  if (value !== null && typeof value === 'object' && !Array.isArray(value))
    return { ...(value as Record<string, unknown>) };
  if (Array.isArray(value)) {
    const merged: Record<string, unknown> = {};
    for (const item of value) {
      if (item === null || typeof item !== 'object' || Array.isArray(item))
        throw new ConversionError(`'' expected a map, got '${Array.isArray(item) ? 'slice' : typeof item}'`);
      Object.assign(merged, item);
    }
    return merged;
  }
  throw new ConversionError(`'' expected a map, got '${typeof value}'`);
}

/**
 * Converts one given (non-null) value to a field type, throwing a {@link ConversionError} with Go's reason text.
 */
function convert<T extends FieldType>(type: T, value: unknown): FieldValueTypes[T] {
  const result = ((): unknown => {
    switch (type) {
      case 'bool':
        return toBool(value);
      case 'int':
        return toInt(value);
      case 'float':
        return toFloat(value);
      case 'string':
        return weakString(value);
      case 'lowercase-string':
        return weakString(value).toLowerCase();
      case 'name-string': {
        const text = weakString(value);
        if (!/^\w(([\w.-]+)?\w)?$/.test(text))
          throw new ConversionError('field does not match the formatting rules');
        return text;
      }
      case 'duration':
      case 'signed-duration': {
        const seconds = durationSeconds(value);
        if (type === 'duration' && seconds < 0)
          throw new ConversionError(`cannot provide negative value '${seconds}'`);
        return seconds;
      }
      case 'comma-string-slice':
        return toStringList(typeof value === 'number' ? String(value) : value, true).map((s) => s.trim());
      case 'string-slice':
        return toStringList(value, false).map((s) => s.trim());
      case 'comma-int-slice':
        return toStringList(typeof value === 'number' ? String(value) : value, true).map((s) => toInt(s));
      case 'slice':
        if (Array.isArray(value)) return [...value];
        if (value !== null && typeof value === 'object' && Object.keys(value).length === 0) return [];
        return [value];
      case 'map':
        return toMap(value);
      case 'kv-pairs': {
        if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
          const out: Record<string, string> = {};
          for (const [key, item] of Object.entries(value)) out[key] = weakString(item);
          return out;
        }
        const out: Record<string, string> = {};
        for (const pair of toStringList(value, false)) {
          const index = pair.indexOf('=');
          if (index <= 0) throw new ConversionError('invalid key pair');
          out[pair.slice(0, index)] = pair.slice(index + 1);
        }
        return out;
      }
    }
  })();
  return result as FieldValueTypes[T];
}

/** The zero value of a field type (Vault's `FieldType.Zero`). */
export function zeroValue<T extends FieldType>(type: T): FieldValueTypes[T] {
  const zero = ((): unknown => {
    switch (type) {
      case 'string':
      case 'lowercase-string':
      case 'name-string':
        return '';
      case 'int':
      case 'float':
      case 'duration':
      case 'signed-duration':
        return 0;
      case 'bool':
        return false;
      case 'map':
      case 'kv-pairs':
        return {};
      default:
        return [];
    }
  })();
  return zero as FieldValueTypes[T];
}

/** The 400 a field that does not convert answers with (Vault's framework validation text). */
export function fieldError(field: string, type: FieldType, value: unknown, reason: string): LogicalError {
  const input =
    ECHOED_TYPES.has(type) && (value === null || typeof value !== 'object')
      ? goFormat(value)
      : `(${goType(value)})`;
  return new LogicalError(
    400,
    `Field validation failed: error converting input ${input} for field "${field}": ${reason}`,
  );
}

/**
 * Parses one value as `type` (Vault's `GetOkErr`): `undefined`/`null` → `undefined` (not given); a value that does
 * not convert → 400 naming `field`.
 */
export function parseField<T extends FieldType>(
  type: T,
  value: unknown,
  field: string,
): FieldValueTypes[T] | undefined {
  if (value === undefined || value === null) return undefined;
  try {
    return convert(type, value);
  } catch (error) {
    if (error instanceof ConversionError) throw fieldError(field, type, value, error.message);
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// FieldData

/** Request data read through a schema (Vault's `framework.FieldData`). */
export class FieldData {
  /** The raw values: the request body/query merged with the path's captures (captures win). */
  readonly raw: Readonly<Record<string, unknown>>;
  readonly schema: FieldSchemas;

  constructor(raw: Readonly<Record<string, unknown>>, schema: FieldSchemas) {
    this.raw = raw;
    this.schema = schema;
  }

  /** Checks that every given field of the schema converts (Vault's `Validate`); throws the first 400. */
  validate(): void {
    for (const field of Object.keys(this.raw)) {
      const schema = this.schema[field];
      if (schema) parseField(schema.type, this.raw[field], field);
    }
  }

  private schemaOf(field: string): FieldSchema {
    const schema = this.schema[field];
    if (!schema) throw new Error(`field ${field} is not in the schema`);
    return schema;
  }

  /** True when the field was given (present and not JSON `null`). */
  has(field: string): boolean {
    this.schemaOf(field);
    return this.raw[field] !== undefined && this.raw[field] !== null;
  }

  /** The field's value, or `undefined` when not given (Vault's `GetOk`). */
  getOk<T = unknown>(field: string): T | undefined {
    const schema = this.schemaOf(field);
    return parseField(schema.type, this.raw[field], field) as T | undefined;
  }

  /** The field's value, or its schema default, or the type's zero value (Vault's `Get`). */
  get<T = unknown>(field: string): T {
    const schema = this.schemaOf(field);
    const given = parseField(schema.type, this.raw[field], field);
    if (given !== undefined) return given as T;
    if (schema.default !== undefined)
      return (parseField(schema.type, schema.default, field) ?? schema.default) as T;
    return zeroValue(schema.type) as T;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Schema-less getters over a request's data (each returns `undefined` when the field is not given)

/** A request body as the field getters read it: field name → decoded JSON value. */
export type RequestData = Readonly<Record<string, unknown>>;

/** True when `data[field]` was given (present and not JSON `null`). */
export const has = (data: RequestData, field: string): boolean =>
  data[field] !== undefined && data[field] !== null;
/** `string` field. */
export const getString = (data: RequestData, field: string): string | undefined =>
  parseField('string', data[field], field);
/** `bool` field. */
export const getBool = (data: RequestData, field: string): boolean | undefined =>
  parseField('bool', data[field], field);
/** `int` field. */
export const getInt = (data: RequestData, field: string): number | undefined =>
  parseField('int', data[field], field);
/** `duration` field, in seconds (negative values refused). */
export const getDuration = (data: RequestData, field: string): number | undefined =>
  parseField('duration', data[field], field);
/** `comma-string-slice` field. */
export const getCommaStringSlice = (data: RequestData, field: string): string[] | undefined =>
  parseField('comma-string-slice', data[field], field);
/** `string-slice` field. */
export const getStringSlice = (data: RequestData, field: string): string[] | undefined =>
  parseField('string-slice', data[field], field);
/** `map` field. */
export const getMap = (data: RequestData, field: string): Record<string, unknown> | undefined =>
  parseField('map', data[field], field);

/**
 * The fields that were given: `data` without its `null`/`undefined` values (JSON `null` means "not given"), for code
 * that tests `data.x !== undefined` or `data.x ?? fallback`.
 */
export function givenFields(data: RequestData): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(data))
    if (value !== undefined && value !== null) out[key] = value;
  return out;
}

/** A `bool` value (for callers holding the value, not the data): `undefined` when not given. */
export const parseBool = (value: unknown, field: string): boolean | undefined =>
  parseField('bool', value, field);
/** A `comma-string-slice` value: `undefined` when not given. */
export const parseStringList = (value: unknown, field: string): string[] | undefined =>
  parseField('comma-string-slice', value, field);
/**
 * A duration value in whole seconds with `parseutil.ParseDurationSecond`'s rules (negative values allowed: callers
 * that refuse them say so with their own message); not given → 0.
 */
export const parseDurationSeconds = (value: unknown, field = 'ttl'): number =>
  parseField('signed-duration', value, field) ?? 0;
