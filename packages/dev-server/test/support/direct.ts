import {
  type Backend,
  type BackendContext,
  LogicalError,
  type LogicalResponse,
  type Operation,
} from '../../src/sdk/index.js';
import { systemClock } from '../../src/util/clock.js';

/** What a call returned, shaped like Vault's HTTP answer. */
export interface CallResult {
  status: number;
  data: Record<string, unknown> | null;
  errors: string[] | undefined;
  warnings: string[] | null;
  response: LogicalResponse | null;
}

/** A BackendContext for driving a backend directly (before the HTTP framework is available). */
export function testContext(mountPath: string, now: () => number = () => Date.now()): BackendContext {
  return {
    mountPath,
    options: {},
    defaultLeaseTtl: () => 768 * 3600,
    maxLeaseTtl: () => 768 * 3600,
    now,
    clock: systemClock,
    revokeLeasesWithPrefix: async () => {},
    log: () => {},
  };
}

/** Calls `backend.handle` and maps the outcome to status + envelope parts as the framework would. */
export async function call(
  backend: Backend,
  operation: Operation,
  path: string,
  data: Record<string, unknown> = {},
): Promise<CallResult> {
  try {
    const response = await backend.handle({
      operation,
      path,
      mountPath: 'mount/',
      data,
      token: undefined,
      remoteAddress: '127.0.0.1',
      clientCertificate: undefined,
      headers: {},
    });
    if (response === null) {
      const status = operation === 'read' || operation === 'list' ? 404 : 204;
      return { status, data: null, errors: status === 404 ? [] : undefined, warnings: null, response };
    }
    if (response.raw)
      return { status: response.raw.status, data: null, errors: undefined, warnings: null, response };
    return {
      status: response.statusCode ?? (response.data || response.warnings ? 200 : 204),
      data: response.data ?? null,
      errors: undefined,
      warnings: response.warnings ?? null,
      response,
    };
  } catch (error) {
    if (error instanceof LogicalError)
      return {
        status: error.status,
        data: error.data ?? null,
        errors: error.errors,
        warnings: null,
        response: null,
      };
    throw error;
  }
}
