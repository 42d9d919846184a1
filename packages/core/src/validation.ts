/**
 * Option validation with zod: every mistake becomes a `VAULT_CONFIG` {@link VaultError} naming the option and the
 * fix. Messages are built from the schema's paths and expectations only, never from the value given (which may be
 * a secret).
 */
import { z } from 'zod';
import { VaultError, VaultErrorCode } from './errors.js';
import { Redacted } from './redacted.js';

/** A secret option: a non-empty string or a {@link Redacted} string. */
export const secretString = z.union([
  z.string().min(1, 'must not be empty'),
  z.custom<Redacted<string>>((v) => Redacted.isRedacted(v) && typeof v.reveal() === 'string', {
    message: 'must be a Redacted<string>',
  }),
]);

/** A mount path: no leading/trailing slashes. */
export const mountPath = z
  .string()
  .min(1, 'must not be empty')
  .transform((m) => m.replace(/^\/+|\/+$/g, ''))
  .refine((m) => m.length > 0 && !m.includes('//'), 'must be a mount path such as "approle"');

/** An integer > 0 (ms, counts); `NaN`, `Infinity`, fractions and strings are rejected with one clear message. */
export const positiveInt = integer('must be a positive integer').positive('must be a positive integer');
/** An integer >= 0. */
export const nonNegativeInt = integer('must be a non-negative integer').nonnegative(
  'must be a non-negative integer',
);
/** A real boolean: `'no'`, `0` or `'false'` are rejected, never read as true or false. */
export const strictBoolean = z.boolean({ error: 'must be true or false' });

/** An `AbortSignal` option. */
export const abortSignal = z.custom<AbortSignal>((v) => v instanceof AbortSignal, {
  message: 'must be an AbortSignal',
});

function integer(message: string) {
  return z.number({ error: message }).int(message);
}

/** Parses `value` with `schema`; throws `VAULT_CONFIG` naming `prefix.<path>` and `hint` on failure. */
export function parseOptions<S extends z.ZodType>(
  schema: S,
  value: unknown,
  prefix: string,
  hint = '',
): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const lines = describeIssues(result.error.issues, value, prefix, true);
  return throwConfig(`Invalid options: ${lines.join('; ')}.${hint ? ` ${hint}` : ''}`);
}

/** The request an answer belongs to, for {@link parseResponse}. */
export interface AnswerOf {
  method: string;
  /** Path relative to `/v1/`, without query string. */
  path: string;
  status?: number | undefined;
  /** Where the parsed value sits in the body (`data`), when it is not the whole body. */
  field?: string;
}

/**
 * Parses an answer of Vault with `schema`; throws a non-retryable `VAULT_INVALID_RESPONSE` naming the request and
 * each wrong field (`auth.lease_duration`) with what it must be. The message gives the type received, never the
 * value (answers hold tokens and passwords).
 */
export function parseResponse<S extends z.ZodType>(schema: S, body: unknown, answer: AnswerOf): z.output<S> {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const lines = describeIssues(result.error.issues, body, answer.field ?? '', false);
  throw new VaultError(
    VaultErrorCode.INVALID_RESPONSE,
    `${answer.method} ${answer.path}: Vault's answer is not the documented shape: ${lines.join('; ')}. ` +
      'Check that the address points at Vault (not at a proxy or another service) and that the path is right.',
    { method: answer.method, path: answer.path, status: answer.status, retryable: false },
  );
}

/** Seconds as Vault sends them (`lease_duration`, `ttl`): a non-negative integer, never `"30s"`. */
export const seconds = z
  .number({ error: 'must be a non-negative integer number of seconds' })
  .int('must be a non-negative integer number of seconds')
  .nonnegative('must be a non-negative integer number of seconds');

/** The lease fields of Vault's envelope (https://developer.hashicorp.com/vault/api-docs#reading-writing-and-listing-secrets). */
export const leaseFields = z.object({
  lease_id: z.string({ error: 'must be a string' }),
  lease_duration: seconds,
  renewable: strictBoolean,
});

const optionalStrings = z.array(z.string(), { error: 'must be a list of strings' }).nullish();

/** Vault's `warnings` (a list of strings or null). */
export const warningsField = z.object({ warnings: optionalStrings });

/**
 * The `auth` block of a login or `renew-self` (https://developer.hashicorp.com/vault/api-docs/auth/approle#login-with-approle):
 * the token, its lease and renewability are required; accessor and policies are informative and may be absent.
 */
export const authBlock = z.object({
  client_token: z.string({ error: 'must be a non-empty string' }).min(1, 'must be a non-empty string'),
  accessor: z.string({ error: 'must be a string' }).optional(),
  policies: optionalStrings,
  lease_duration: seconds,
  renewable: strictBoolean,
});

/** A Vault answer that carries an `auth` block. */
export const authEnvelope = warningsField.extend({ auth: authBlock });

/** `renew-self`: only the new lease and renewability are used (https://developer.hashicorp.com/vault/api-docs/auth/token#renew-a-token-self). */
export const renewedAuthEnvelope = warningsField.extend({
  auth: authBlock.pick({ lease_duration: true, renewable: true }),
});

/** `sys/leases/renew` (https://developer.hashicorp.com/vault/api-docs/system/leases#renew-lease). */
export const leaseRenewal = leaseFields.extend(warningsField.shape);

/** An object of JSON values (Vault's `data`). */
export const jsonObject = z.record(z.string(), z.unknown(), { error: 'must be an object' });

type Issue = z.core.$ZodIssue;

function describeIssues(
  issues: readonly Issue[],
  input: unknown,
  prefix: string,
  showValues: boolean,
): string[] {
  return flatten(issues, []).map(({ issue, path }) => {
    const name = [prefix, ...path.map(String)].filter(Boolean).join('.');
    const text = describeIssue(issue, valueAt(input, path), showValues);
    return name ? `"${name}" ${text}` : `${showValues ? 'the options object' : 'the body'} ${text}`;
  });
}

/**
 * Expands unions: when one branch got past the type check (its issues are deeper), report those issues with
 * their full path; when every branch failed at the top, {@link describeIssue} lists the alternatives.
 */
function flatten(
  issues: readonly Issue[],
  base: readonly PropertyKey[],
): Array<{ issue: Issue; path: PropertyKey[] }> {
  return issues.flatMap((issue) => {
    const path = [...base, ...issue.path];
    if (issue.code !== 'invalid_union') return [{ issue, path }];
    const deepest = [...issue.errors].sort((a, b) => depth(b) - depth(a))[0];
    return deepest && depth(deepest) > 0 ? flatten(deepest, path) : [{ issue, path }];
  });
}

function depth(branch: readonly Issue[]): number {
  return Math.max(0, ...branch.map((i) => i.path.length));
}

function describeIssue(issue: Issue, value: unknown, showValues: boolean): string {
  return `${expectation(issue, showValues)}${received(issue, value, showValues)}`;
}

/** What the value must be (`must be a positive integer`). */
function expectation(issue: Issue, option: boolean): string {
  switch (issue.code) {
    case 'invalid_type':
      return defaultMessage(issue) ? `must be ${article(issue.expected, option)}` : issue.message;
    case 'invalid_value':
      return `must be ${issue.values.map((v) => JSON.stringify(v)).join(' or ')}`;
    case 'invalid_union': {
      const wanted = issue.errors.map((branch) =>
        branch[0] ? expectation(branch[0], option).replace(/^must be /, '') : 'valid',
      );
      return `must be ${[...new Set(wanted)].join(' or ')}`;
    }
    case 'unrecognized_keys':
      return `has unknown keys: ${issue.keys.join(', ')} (check the spelling)`;
    default:
      return issue.message;
  }
}

/** ` (got …)` for type and range mistakes; the value only where it cannot be a secret (see {@link got}). */
function received(issue: Issue, value: unknown, showValues: boolean): string {
  switch (issue.code) {
    case 'invalid_type':
      return got(value, showValues && issue.expected !== 'string');
    case 'invalid_value':
      return got(value, showValues);
    case 'invalid_union': {
      const takesString = issue.errors.some((b) =>
        b.some((i) => i.code === 'invalid_type' && i.expected === 'string'),
      );
      return got(value, showValues && !takesString);
    }
    case 'too_small':
    case 'too_big':
    case 'not_multiple_of':
      return 'origin' in issue && issue.origin !== 'number' ? '' : got(value, showValues);
    default:
      return '';
  }
}

function defaultMessage(issue: Issue): boolean {
  return issue.message.startsWith('Invalid input');
}

/** `must be …` for a type; options ask for non-empty strings (an empty option is always a mistake). */
function article(expected: string, option: boolean): string {
  if (expected === 'string') return option ? 'a non-empty string' : 'a string';
  if (expected === 'boolean') return 'true or false';
  if (expected === 'int') return 'an integer';
  return /^[aeiou]/.test(expected) ? `an ${expected}` : `a ${expected}`;
}

/** ` (got …)`: the value itself only for options that are not strings (never a secret), else its type. */
function got(value: unknown, showValue: boolean): string {
  if (value === undefined) return ' (missing)';
  if (value === null) return ' (got null)';
  if (Array.isArray(value)) return ' (got an array)';
  switch (typeof value) {
    case 'string':
      // only a short word such as "two", "no", "5000" or "1h": never something shaped like a token or password
      return showValue && /^[\w .+-]{0,12}$/.test(value)
        ? ` (got ${JSON.stringify(value)})`
        : ' (got a string)';
    case 'number':
    case 'boolean':
      return showValue ? ` (got ${String(value)})` : ` (got a ${typeof value})`;
    case 'object':
      return ' (got an object)';
    default:
      return ` (got a ${typeof value})`;
  }
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let value = input;
  for (const key of path) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

function throwConfig(message: string): never {
  throw new VaultError(VaultErrorCode.CONFIG, message);
}

/** Go's `strconv.ParseBool`, as the Vault CLI reads boolean environment variables. */
export function parseGoBool(value: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(value)) return false;
  return undefined;
}

/** A Go duration (`"90s"`, `"1m30s"`, `"500ms"`) or bare seconds → ms; `undefined` when malformed. */
export function parseDurationMs(value: string): number | undefined {
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const unit: Record<string, number> = {
    ns: 1e-6,
    us: 1e-3,
    µs: 1e-3,
    ms: 1,
    s: 1000,
    m: 60_000,
    h: 3_600_000,
  };
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let consumed = 0;
  for (let match = re.exec(trimmed); match; match = re.exec(trimmed)) {
    total += Number(match[1]) * (unit[match[2] ?? 's'] ?? 0);
    consumed = re.lastIndex;
  }
  if (consumed === 0 || consumed !== trimmed.length) return undefined;
  return Math.round(total);
}
