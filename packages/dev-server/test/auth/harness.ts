/**
 * Handle-level test harness for auth backends: a BackendContext with an injectable clock and a request builder.
 */
import { expect } from 'vitest';
import type {
  Backend,
  BackendContext,
  LogicalRequest,
  LogicalResponse,
  Operation,
  TokenView,
} from '../../src/sdk/index.js';
import { LogicalError } from '../../src/sdk/index.js';
import { systemClock } from '../../src/util/clock.js';

export interface TestClock {
  now: number;
  advance(seconds: number): void;
}

export function makeContext(mountPath: string): {
  context: BackendContext;
  clock: TestClock;
  logs: string[];
} {
  const clock: TestClock = {
    now: Date.now(),
    advance(seconds) {
      this.now += seconds * 1000;
    },
  };
  const logs: string[] = [];
  const context: BackendContext = {
    mountPath,
    options: {},
    defaultLeaseTtl: () => 768 * 3600,
    maxLeaseTtl: () => 768 * 3600,
    now: () => clock.now,
    // Auth backends set no timers of their own; their notion of "now" is the test clock above.
    clock: systemClock,
    revokeLeasesWithPrefix: async () => {},
    log: (level, message, fields) => {
      logs.push(`${level} ${message} ${JSON.stringify(fields ?? {})}`);
    },
  };
  return { context, clock, logs };
}

export interface RequestExtras {
  remoteAddress?: string;
  clientCertificate?: Buffer;
}

export function request(
  operation: Operation,
  path: string,
  data: Record<string, unknown> = {},
  extras: RequestExtras = {},
): LogicalRequest {
  return {
    operation,
    path,
    mountPath: 'auth/test/',
    data,
    token: undefined,
    remoteAddress: extras.remoteAddress ?? '127.0.0.1',
    clientCertificate: extras.clientCertificate,
    headers: {},
  };
}

/** Calls handle() and returns the response (non-null expected). */
export async function call(
  backend: Backend,
  operation: Operation,
  path: string,
  data: Record<string, unknown> = {},
  extras: RequestExtras = {},
): Promise<LogicalResponse> {
  const response = await backend.handle(request(operation, path, data, extras));
  expect(response).not.toBeNull();
  return response as LogicalResponse;
}

/**
 * Expects a LogicalError with the status and exact message, and checks that none of `secrets` appears in it.
 */
export async function expectError(
  promise: Promise<unknown>,
  status: number,
  message: string | RegExp,
  secrets: readonly string[] = [],
): Promise<LogicalError> {
  const error = await promise.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(LogicalError);
  const logical = error as LogicalError;
  expect(logical.status).toBe(status);
  if (typeof message === 'string') expect(logical.errors).toEqual([message]);
  else expect(logical.errors.join('\n')).toMatch(message);
  for (const secret of secrets) {
    expect(secret.length).toBeGreaterThan(3);
    expect(logical.message).not.toContain(secret);
    expect(JSON.stringify(logical.errors)).not.toContain(secret);
  }
  return logical;
}

/** A TokenView for renewAuth, built from a login's auth spec. */
export function tokenFromLogin(response: LogicalResponse, issueTime: number): TokenView {
  const auth = response.auth;
  if (!auth) throw new Error('no auth in response');
  return {
    accessor: 'test-accessor',
    policies: ['default', ...auth.policies],
    metadata: auth.metadata,
    internal: auth.internal ?? {},
    issueTime,
    expireTime: issueTime + auth.ttl * 1000,
  };
}
