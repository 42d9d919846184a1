/**
 * Options and environment of the Doppler sources, checked once when a source is created: a problem is a
 * `SOURCE_CONFIG` error naming the option (or environment variable) and the fix. The token is never part of a
 * message.
 */
import { type Clock, Redacted, systemClock } from '@leasehold/core';
import { dopplerError } from './errors.js';

/** The default API host (https://docs.doppler.com/reference/api). */
export const DOPPLER_API_HOST = 'https://api.doppler.com';
/** Default longest wait for one API request, answer body included (ms). */
export const DEFAULT_TIMEOUT_MS = 10_000;
/**
 * Suggested poll interval (ms): one conditional request a minute, far below Doppler's per-token rate limit
 * (https://docs.doppler.com/reference/api, "Rate Limits").
 */
export const DEFAULT_POLL_INTERVAL_MS = 60_000;

/** Where and how the secrets of one Doppler config are read. */
export interface DopplerOptions {
  /**
   * Doppler token (default: the `DOPPLER_TOKEN` environment variable). A service token (`dp.st.…`) is bound to one
   * config and needs no `project`/`config`; a personal (`dp.pt.…`), CLI (`dp.ct.…`) or service account (`dp.sa.…`)
   * token needs both. Never logged, never in an error.
   */
  token?: string | Redacted<string>;
  /** Project slug (default: `DOPPLER_PROJECT`). Needed unless the token is a service token. */
  project?: string;
  /** Config name, e.g. `prd` (default: `DOPPLER_CONFIG`). Needed unless the token is a service token. */
  config?: string;
  /** API base URL (default: `DOPPLER_API_HOST`, as the Doppler CLI names it, else `https://api.doppler.com`). */
  apiHost?: string;
  /** Longest wait for one request, answer included (ms; default 10 000). Past it: retryable `SOURCE_TIMEOUT`. */
  timeoutMs?: number;
  /** Environment read for the defaults (default `process.env`). */
  env?: Readonly<Record<string, string | undefined>>;
  /** Clock of the request timeouts (default: the system clock, timers `unref()`ed). */
  clock?: Clock;
}

/** The checked options: what the API client needs. */
export interface ResolvedDopplerOptions {
  readonly token: Redacted<string>;
  readonly project: string | undefined;
  readonly config: string | undefined;
  readonly apiHost: string;
  readonly timeoutMs: number;
  readonly clock: Clock;
  /** `project/config`, or `service-token` when the token alone names the config. */
  readonly name: string;
}

/** Tokens bound to one config (https://docs.doppler.com/docs/service-tokens). */
const SERVICE_TOKEN_PREFIX = 'dp.st.';

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}

/** Reads and checks `options` (and the environment) for the function `fn`. */
export function resolveDopplerOptions(
  fn: string,
  options: DopplerOptions | undefined,
): ResolvedDopplerOptions {
  const o: DopplerOptions = options ?? {};
  const env = o.env ?? process.env;
  const invalid = (option: string, problem: string, fix: string) =>
    dopplerError('SOURCE_CONFIG', 'options', `invalid option "${option}" of ${fn}: ${problem}. ${fix}`);
  if (typeof o !== 'object' || o === null || Array.isArray(o))
    throw dopplerError(
      'SOURCE_CONFIG',
      'options',
      `${fn} needs an options object (or none). See the README of @leasehold/doppler.`,
    );

  let token: string | undefined;
  if (o.token !== undefined) {
    const raw = Redacted.isRedacted(o.token) ? (o.token as Redacted<unknown>).reveal() : o.token;
    if (typeof raw !== 'string' || raw.trim() === '')
      throw invalid(
        'token',
        'must be a non-empty string (or Redacted string)',
        'Pass the Doppler token, or leave it out to read DOPPLER_TOKEN.',
      );
    token = raw.trim();
  } else {
    token = text(env.DOPPLER_TOKEN);
  }
  if (token === undefined)
    throw dopplerError(
      'SOURCE_CONFIG',
      'options',
      `${fn}: no Doppler token. Set the DOPPLER_TOKEN environment variable (or pass \`token\`) to a service token (dp.st.…) created under Project › Config › Access in the Doppler dashboard.`,
    );
  if (!/^[!-~]+$/.test(token))
    throw invalid(
      'token',
      'contains whitespace, control or non-ASCII characters',
      'Copy the token again without spaces or line breaks.',
    );

  const project = o.project !== undefined ? o.project : text(env.DOPPLER_PROJECT);
  const config = o.config !== undefined ? o.config : text(env.DOPPLER_CONFIG);
  for (const [option, value, variable] of [
    ['project', project, 'DOPPLER_PROJECT'],
    ['config', config, 'DOPPLER_CONFIG'],
  ] as const) {
    if (value !== undefined && (typeof value !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(value)))
      throw invalid(
        option,
        'must be a Doppler slug (letters, digits, "-", "_", ".")',
        `Pass the ${option} name as shown in the dashboard (or set ${variable}).`,
      );
  }
  if (!token.startsWith(SERVICE_TOKEN_PREFIX) && (project === undefined || config === undefined))
    throw dopplerError(
      'SOURCE_CONFIG',
      'options',
      `${fn}: the token is not a service token (dp.st.…), so Doppler needs to be told which config to read: pass \`project\` and \`config\` (or set DOPPLER_PROJECT and DOPPLER_CONFIG), or use a service token of the config.`,
    );

  const hostText = o.apiHost !== undefined ? o.apiHost : text(env.DOPPLER_API_HOST);
  let apiHost = DOPPLER_API_HOST;
  if (hostText !== undefined) {
    const option = o.apiHost !== undefined ? 'apiHost' : 'DOPPLER_API_HOST';
    let url: URL | undefined;
    try {
      url = typeof hostText === 'string' ? new URL(hostText) : undefined;
    } catch {
      url = undefined;
    }
    if (
      url === undefined ||
      (url.protocol !== 'https:' && url.protocol !== 'http:') ||
      url.username !== '' ||
      url.password !== ''
    )
      throw invalid(
        option,
        'must be an http(s) URL without credentials',
        `Use e.g. ${DOPPLER_API_HOST}, or leave it out.`,
      );
    apiHost = url.href.replace(/\/+$/, '');
  }

  const timeoutMs = o.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs <= 0)
    throw invalid(
      'timeoutMs',
      'must be a positive number of milliseconds',
      'Pass e.g. 10000, or leave it out.',
    );

  const clock = o.clock ?? systemClock;
  if (
    typeof clock?.setTimeout !== 'function' ||
    typeof clock.clearTimeout !== 'function' ||
    typeof clock.now !== 'function'
  )
    throw invalid(
      'clock',
      'must be a Clock (now, setTimeout, clearTimeout)',
      'Leave it out for the system clock.',
    );

  return {
    token: Redacted.of(token),
    project,
    config,
    apiHost,
    timeoutMs,
    clock,
    name: project !== undefined && config !== undefined ? `${project}/${config}` : 'service-token',
  };
}
