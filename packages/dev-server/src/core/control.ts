/** Which requests a fault rule applies to. */
export interface RequestMatcher {
  /** HTTP method (`GET`, `POST`, `LIST`, …); omitted or `*` = any. */
  method?: string;
  /**
   * Vault path glob, relative to `/v1/` and without the query string (e.g. `auth/approle/login`,
   * `database/creds/*`). `*` matches any run of characters including `/`; omitted = every path.
   */
  path?: string;
}

/** Delay matching requests. */
export interface LatencyRule extends RequestMatcher {
  /** Milliseconds to wait before handling the request. */
  ms: number;
  /** Apply to this many requests, then remove the rule (omitted = until cleared). */
  count?: number;
}

/** Fail the next N matching requests with a status and error text (Vault's `{"errors":[…]}` body). */
export interface FailRule extends RequestMatcher {
  status: number;
  /** The error text (default `injected failure`). */
  error?: string;
  /** How many requests to fail (default 1). */
  count?: number;
  /** Optional `Retry-After` header value (seconds). */
  retryAfter?: number;
}

/** Destroy the socket of the next N matching requests without answering. */
export interface DropRule extends RequestMatcher {
  /** How many requests (default 1). */
  count?: number;
}

/** One entry of the request log. Never contains bodies, query strings or tokens. */
export interface RequestLogEntry {
  /** ISO time the request arrived. */
  time: string;
  method: string;
  /** Vault path relative to `/v1/` (no query string). */
  path: string;
  /** HTTP status answered; 0 when the connection was dropped. */
  status: number;
  /** Handling time in ms. */
  durationMs: number;
}

/** Filter for `Control.requests()` (the dev server's control API). */
export interface RequestLogFilter extends RequestMatcher {
  status?: number;
}

interface Counted<T> {
  rule: T;
  regex: RegExp;
  remaining: number;
}

function globToRegex(glob: string | undefined): RegExp {
  if (!glob || glob === '*') return /^.*$/s;
  const body = glob
    .replace(/^\/+/, '')
    .replace(/^v1\//, '')
    .split('*')
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${body}$`, 's');
}

function methodMatches(rule: RequestMatcher, method: string): boolean {
  return !rule.method || rule.method === '*' || rule.method.toUpperCase() === method.toUpperCase();
}

/** Fault injection and the request log (the dev server's test-control surface). */
export class Control {
  private latency: Counted<LatencyRule>[] = [];
  private failures: Counted<FailRule>[] = [];
  private drops: Counted<DropRule>[] = [];
  private log: RequestLogEntry[] = [];
  /** Bound on the request log (oldest entries are dropped). */
  private readonly maxLog = 10_000;

  addLatency(rule: LatencyRule): void {
    if (!Number.isFinite(rule.ms) || rule.ms < 0)
      throw new TypeError('latency rule: `ms` must be a number ≥ 0');
    this.latency.push({
      rule,
      regex: globToRegex(rule.path),
      remaining: rule.count ?? Number.POSITIVE_INFINITY,
    });
  }

  failNext(rule: FailRule): void {
    if (!Number.isInteger(rule.status) || rule.status < 100 || rule.status > 599)
      throw new TypeError('fail rule: `status` must be an HTTP status code (100–599)');
    this.failures.push({ rule, regex: globToRegex(rule.path), remaining: rule.count ?? 1 });
  }

  dropNext(rule: DropRule = {}): void {
    this.drops.push({ rule, regex: globToRegex(rule.path), remaining: rule.count ?? 1 });
  }

  /** Removes every latency, failure and drop rule. */
  clearFaults(): void {
    this.latency = [];
    this.failures = [];
    this.drops = [];
  }

  private take<T extends RequestMatcher>(list: Counted<T>[], method: string, path: string): T | undefined {
    for (const entry of list) {
      if (entry.remaining <= 0) continue;
      if (!methodMatches(entry.rule, method) || !entry.regex.test(path)) continue;
      entry.remaining--;
      if (entry.remaining <= 0) list.splice(list.indexOf(entry), 1);
      return entry.rule;
    }
    return undefined;
  }

  /** The latency to apply to a request (sum of matching rules). */
  latencyFor(method: string, path: string): number {
    let total = 0;
    for (const entry of [...this.latency]) {
      if (!methodMatches(entry.rule, method) || !entry.regex.test(path)) continue;
      total += entry.rule.ms;
      entry.remaining--;
      if (entry.remaining <= 0) this.latency.splice(this.latency.indexOf(entry), 1);
    }
    return total;
  }

  takeFailure(method: string, path: string): FailRule | undefined {
    return this.take(this.failures, method, path);
  }

  takeDrop(method: string, path: string): DropRule | undefined {
    return this.take(this.drops, method, path);
  }

  record(entry: RequestLogEntry): void {
    this.log.push(entry);
    if (this.log.length > this.maxLog) this.log.splice(0, this.log.length - this.maxLog);
  }

  /** Logged requests, optionally filtered (method, path glob, status). */
  requests(filter: RequestLogFilter = {}): RequestLogEntry[] {
    const regex = globToRegex(filter.path);
    return this.log.filter(
      (e) =>
        methodMatches(filter, e.method) &&
        regex.test(e.path) &&
        (filter.status === undefined || filter.status === e.status),
    );
  }

  clearRequests(): void {
    this.log = [];
  }
}
