/**
 * A pluggable, pino-compatible logger: `logger.info({ fields }, 'message')`.
 *
 * The library never passes a secret to the logger: tokens are identified by accessor, requests by method and
 * path. Default: silent.
 */

/** One log method: pino's `(obj, msg)` signature. */
export type LogFn = (obj: Record<string, unknown>, msg?: string) => void;

/** The subset of pino's logger the library uses. `console` is not compatible; use pino or wrap it. */
export interface Logger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}

const noop: LogFn = () => {};

/** A logger that drops everything (the default). */
export const silentLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop };

/**
 * Wraps a user logger so that a throwing logger never breaks the client, and every record carries
 * `{ component }`.
 */
export function componentLogger(base: Logger, component: string): Logger {
  const wrap =
    (level: keyof Logger): LogFn =>
    (obj, msg) => {
      try {
        base[level]({ lib: 'leasehold', component, ...obj }, msg);
      } catch {
        // A broken logger must not break Vault access.
      }
    };
  return { debug: wrap('debug'), info: wrap('info'), warn: wrap('warn'), error: wrap('error') };
}
