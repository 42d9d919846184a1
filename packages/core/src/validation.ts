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
    message: 'must be a string or Redacted<string>',
  }),
]);

/** A mount path: no leading/trailing slashes. */
export const mountPath = z
  .string()
  .min(1, 'must not be empty')
  .transform((m) => m.replace(/^\/+|\/+$/g, ''))
  .refine((m) => m.length > 0 && !m.includes('//'), 'must be a mount path such as "approle"');

/** Parses `value` with `schema`; throws `VAULT_CONFIG` naming `prefix.<path>` and `hint` on failure. */
export function parseOptions<S extends z.ZodType>(
  schema: S,
  value: unknown,
  prefix: string,
  hint = '',
): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => {
    const name = [prefix, ...issue.path.map(String)].filter(Boolean).join('.');
    return name ? `"${name}" ${describeIssue(issue)}` : `the options object ${describeIssue(issue)}`;
  });
  return throwConfig(`Invalid options: ${lines.join('; ')}.${hint ? ` ${hint}` : ''}`);
}

function describeIssue(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      return `must be ${issue.expected === 'string' ? 'a non-empty string' : issue.expected}`;
    case 'invalid_union': {
      const inner = issue.errors[0]?.[0];
      return inner ? describeIssue(inner) : issue.message;
    }
    case 'unrecognized_keys':
      return `has unknown keys: ${issue.keys.join(', ')} (check the spelling)`;
    default:
      return issue.message;
  }
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
