/**
 * The one Doppler API call the sources make: `GET /v3/configs/config/secrets/download?format=json`
 * (https://docs.doppler.com/reference/secrets-download), conditional on the last `ETag` (`If-None-Match` → `304`).
 * Every request has a timeout on the configured clock and honours the caller's `AbortSignal`; every answer is
 * checked, and every failure is a typed error.
 */
import { dopplerError } from './errors.js';
import type { ResolvedDopplerOptions } from './options.js';

/** The answer of one download. */
export type DownloadResult =
  | { readonly notModified: true }
  | {
      readonly notModified: false;
      /** The `ETag` header, when Doppler sent one. */
      readonly etag: string | undefined;
      /** Secret name → computed value. */
      readonly secrets: Readonly<Record<string, string>>;
    };

/** The longest answer accepted (a config holds at most a few hundred secrets). */
const MAX_BODY_CHARS = 4 * 1024 * 1024;

/** Doppler's error body: `{ messages: [...], success: false }` → its messages, shortened, without the token. */
function errorMessages(body: string, token: string): string {
  let messages: unknown;
  try {
    messages = (JSON.parse(body) as { messages?: unknown }).messages;
  } catch {
    return '';
  }
  if (!Array.isArray(messages)) return '';
  const text = messages
    .filter((m): m is string => typeof m === 'string')
    .map((m) => m.slice(0, 200))
    .join('; ')
    .split(token)
    .join('[redacted]');
  return text === '' ? '' : `: ${text}`;
}

/** Checks a download body: a JSON object of string values. Names the offending secret, never a value. */
function parseSecrets(name: string, body: string): Record<string, string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch (error) {
    throw dopplerError(
      'SOURCE_INVALID_RESPONSE',
      name,
      'the secrets download is not JSON (expected an object of secret name → value).',
      error,
    );
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw dopplerError(
      'SOURCE_INVALID_RESPONSE',
      name,
      `the secrets download is ${Array.isArray(parsed) ? 'an array' : parsed === null ? 'null' : `a ${typeof parsed}`}, expected an object of secret name → value.`,
    );
  const secrets: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [key, value] of Object.entries(parsed)) {
    if (typeof value !== 'string')
      throw dopplerError(
        'SOURCE_INVALID_RESPONSE',
        name,
        `secret "${key.slice(0, 100)}" of the secrets download is ${value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`}, expected a string.`,
      );
    secrets[key] = value;
  }
  return secrets;
}

/** The API client of one source. */
export class DopplerApi {
  readonly #options: ResolvedDopplerOptions;
  readonly #url: string;

  constructor(options: ResolvedDopplerOptions) {
    this.#options = options;
    const query = new URLSearchParams({ format: 'json' });
    if (options.project !== undefined) query.set('project', options.project);
    if (options.config !== undefined) query.set('config', options.config);
    this.#url = `${options.apiHost}/v3/configs/config/secrets/download?${query.toString()}`;
  }

  /** Downloads the config's secrets; `ifNoneMatch`: the ETag held (a `304` then means unchanged). */
  async download(signal: AbortSignal, ifNoneMatch?: string): Promise<DownloadResult> {
    const { clock, timeoutMs, name } = this.#options;
    if (signal.aborted) throw signal.reason;
    const timeout = new AbortController();
    const timer = clock.setTimeout(() => timeout.abort(), timeoutMs);
    const combined = AbortSignal.any([signal, timeout.signal]);
    const token = this.#options.token.reveal();
    try {
      let status: number;
      let body: string;
      let etag: string | undefined;
      let retryAfter: string | null;
      try {
        const res = await fetch(this.#url, {
          method: 'GET',
          headers: {
            accept: 'application/json',
            authorization: `Bearer ${token}`,
            ...(ifNoneMatch !== undefined ? { 'if-none-match': ifNoneMatch } : {}),
          },
          // A redirect is reported (Doppler redirects plain HTTP to HTTPS), never followed with the token.
          redirect: 'manual',
          signal: combined,
        });
        status = res.status;
        etag = res.headers.get('etag') ?? undefined;
        retryAfter = res.headers.get('retry-after');
        body = await res.text();
      } catch (error) {
        if (signal.aborted) throw signal.reason;
        if (timeout.signal.aborted)
          throw dopplerError(
            'SOURCE_TIMEOUT',
            name,
            `no answer from Doppler within ${timeoutMs} ms (raise \`timeoutMs\` if the network is slow).`,
          );
        throw dopplerError(
          'SOURCE_UNAVAILABLE',
          name,
          `cannot reach the Doppler API at ${this.#options.apiHost} (${describeNetworkError(error)}); retried with backoff.`,
          error,
        );
      }
      return this.#answer(status, body, etag, retryAfter, ifNoneMatch, token);
    } finally {
      clock.clearTimeout(timer);
    }
  }

  #answer(
    status: number,
    body: string,
    etag: string | undefined,
    retryAfter: string | null,
    ifNoneMatch: string | undefined,
    token: string,
  ): DownloadResult {
    const { name } = this.#options;
    if (status === 304) {
      if (ifNoneMatch === undefined)
        throw dopplerError(
          'SOURCE_INVALID_RESPONSE',
          name,
          'Doppler answered 304 Not Modified to an unconditional request.',
        );
      return { notModified: true };
    }
    if (status === 200) {
      if (body.length > MAX_BODY_CHARS)
        throw dopplerError(
          'SOURCE_INVALID_RESPONSE',
          name,
          `the secrets download is larger than ${MAX_BODY_CHARS} characters.`,
        );
      return {
        notModified: false,
        etag: etag !== undefined && etag !== '' ? etag : undefined,
        secrets: parseSecrets(name, body),
      };
    }
    const said = errorMessages(body, token);
    if (status === 401 || status === 403)
      throw dopplerError(
        'SOURCE_AUTH_FAILED',
        name,
        `Doppler refused the token (HTTP ${status}${said}). Fix: set DOPPLER_TOKEN (or \`token\`) to a valid, unrevoked token with read access to the config — a service token (dp.st.…) from Project › Config › Access in the Doppler dashboard.`,
      );
    if (status === 404)
      throw dopplerError(
        'SOURCE_NOT_FOUND',
        name,
        `Doppler has no such project or config (HTTP 404${said}). Fix: check \`project\`/\`config\` (DOPPLER_PROJECT, DOPPLER_CONFIG) against the dashboard.`,
      );
    if (status === 429 || status === 408 || status >= 500)
      throw dopplerError(
        'SOURCE_UNAVAILABLE',
        name,
        `Doppler answered HTTP ${status}${said}${retryAfter !== null ? ` (Retry-After: ${retryAfter.slice(0, 40)})` : ''}; retried with backoff.`,
      );
    if (status === 400 || status === 422)
      throw dopplerError(
        'SOURCE_CONFIG',
        name,
        `Doppler rejected the request (HTTP ${status}${said}). Fix: check \`project\`/\`config\` and the token type (a personal or service account token needs both).`,
      );
    const hint =
      status >= 300 && status < 400
        ? ' (a redirect: use the https:// URL of the API as `apiHost` / DOPPLER_API_HOST)'
        : '';
    throw dopplerError(
      'SOURCE_INVALID_RESPONSE',
      name,
      `Doppler answered an unexpected HTTP ${status}${said}${hint}.`,
    );
  }
}

/** `ECONNREFUSED`, `ENOTFOUND`, … from fetch's `cause`, or the error's message. */
function describeNetworkError(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown; message?: unknown } } | undefined)?.cause;
  if (typeof cause?.code === 'string') return cause.code;
  if (typeof cause?.message === 'string') return cause.message.slice(0, 200);
  return error instanceof Error ? error.message.slice(0, 200) : 'network error';
}
