/**
 * SQL statement handling as Vault's PostgreSQL plugin does it (`dbutil.QueryHelper`,
 * `strutil.ParseArbitraryStringSlice`, `containsMultilineStatement`, the expiration layout).
 */

/** Vault's default `ALTER ROLE … VALID UNTIL` statement used by renewals without `renew_statements`. */
export const DEFAULT_RENEW_STATEMENT = `ALTER ROLE "{{name}}" VALID UNTIL '{{expiration}}';`;
/** Vault's default password change statement (static roles, root rotation). */
export const DEFAULT_ROTATION_STATEMENT = `ALTER ROLE "{{username}}" WITH PASSWORD '{{password}}';`;

/** Literal replacement of every `{{key}}` by its value (no escaping, as Vault's `QueryHelper`). */
export function substitute(statement: string, values: Readonly<Record<string, string>>): string {
  let out = statement;
  for (const [key, value] of Object.entries(values)) out = out.split(`{{${key}}}`).join(value);
  return out;
}

const STRICT_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function parseJsonStringArray(text: string): string[] | undefined {
  const trimmed = text.trim();
  if (!trimmed.startsWith('[')) return undefined;
  try {
    const parsed: unknown = JSON.parse(trimmed);
    if (Array.isArray(parsed) && parsed.every((item) => typeof item === 'string')) return parsed as string[];
  } catch {
    // not JSON: split it instead
  }
  return undefined;
}

/**
 * Vault's `strutil.ParseArbitraryStringSlice(input, sep)`: a JSON array of strings (also base64-encoded), else the
 * input split on `sep` with each part trimmed. (Vault would also split a base64-decoded non-JSON value; here only a
 * base64-encoded JSON array is decoded, so a statement that happens to be valid base64 is never mangled.)
 */
export function parseArbitraryStringSlice(input: string, sep: string): string[] {
  const text = input.trim();
  if (text.length > 0 && STRICT_BASE64.test(text)) {
    const decoded = parseJsonStringArray(Buffer.from(text, 'base64').toString('utf8'));
    if (decoded) return decoded;
  }
  const json = parseJsonStringArray(text);
  if (json) return json;
  if (text === '') return [];
  return text.split(sep).map((part) => part.trim());
}

/**
 * Vault's `containsMultilineStatement`: true when the statement contains the word `END` (case-sensitive, word
 * boundaries) outside single- or double-quoted literals — then it runs whole instead of being split on `;`.
 */
export function containsMultilineStatement(statement: string): boolean {
  const withoutLiterals = statement.replace(/".*?"/g, '').replace(/'.*?'/g, '');
  return /\bEND\b/.test(withoutLiterals);
}

/**
 * Expands a list of statements into the queries to run, in order: a statement with a standalone `END` runs whole
 * (only when `allowMultiline`, as Vault does for creation and revocation), others are split on `;`; empty parts
 * are dropped.
 */
export function expandStatements(statements: readonly string[], allowMultiline: boolean): string[] {
  const queries: string[] = [];
  for (const statement of statements) {
    if (allowMultiline && containsMultilineStatement(statement)) {
      queries.push(statement);
      continue;
    }
    for (const part of parseArbitraryStringSlice(statement, ';')) {
      const query = part.trim();
      if (query) queries.push(query);
    }
  }
  return queries;
}

/** Quotes a PostgreSQL identifier (`pq.QuoteIdentifier`): wraps in `"`, doubles inner quotes, drops NULs. */
export function quoteIdentifier(name: string): string {
  const end = name.indexOf('\u0000');
  const clean = end >= 0 ? name.slice(0, end) : name;
  return `"${clean.replace(/"/g, '""')}"`;
}

const pad2 = (n: number): string => String(n).padStart(2, '0');

/**
 * Formats a time with Go's layout `2006-01-02 15:04:05-0700` in the server's local zone, e.g.
 * `2024-05-06 15:26:42+0000` — the `{{expiration}}` value Vault passes to the statements.
 */
export function formatExpiration(ms: number): string {
  const d = new Date(ms);
  const offset = -d.getTimezoneOffset();
  const sign = offset >= 0 ? '+' : '-';
  const abs = Math.abs(offset);
  return (
    `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ` +
    `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}` +
    `${sign}${pad2(Math.floor(abs / 60))}${pad2(abs % 60)}`
  );
}

/** Formats a time as Go marshals a `time.Time` to JSON (RFC 3339, fractional seconds without trailing zeros). */
export function formatGoTime(ms: number): string {
  const iso = new Date(ms).toISOString();
  return iso.replace(/\.(\d*?)0*Z$/, (_m, frac: string) => (frac ? `.${frac}Z` : 'Z'));
}
