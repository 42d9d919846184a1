import type {
  Backend,
  BackendFactory,
  LeaseView,
  LogicalRequest,
  LogicalResponse,
  TokenView,
} from '../src/index.js';
import { badRequest, LogicalError } from '../src/index.js';

/** What the test engine observed. */
export interface TestEngineState {
  revoked: LeaseView[];
  renewed: { lease: LeaseView; newExpireTime: number }[];
  renewAuth: TokenView[];
  failRevoke: boolean;
  roleMaxTtl: number | undefined;
  lastRequest: LogicalRequest | undefined;
}

/**
 * A tiny engine for framework tests: `creds/:role` issues a leased secret (`ttl`, `max_ttl`, `renewable` from the
 * query), `login` (unauthenticated) issues a token, `echo` returns the request data, `nil` returns null.
 */
export function testEngine(state: TestEngineState): BackendFactory {
  return (): Backend => ({
    type: 'test',
    unauthenticatedPaths: ['login', 'public/*'],
    async handle(request: LogicalRequest): Promise<LogicalResponse | null> {
      state.lastRequest = request;
      const { path, data } = request;
      if (path.startsWith('creds/')) {
        return {
          data: { username: `user-${path.slice(6)}`, password: 'p4ssw0rd-secret' },
          secret: {
            ttl: Number(data.ttl ?? 0),
            maxTtl: Number(data.max_ttl ?? 0),
            renewable: data.renewable !== 'false',
            internal: { role: path.slice(6) },
          },
        };
      }
      if (path === 'login') {
        if (data.password !== 'open-sesame') throw badRequest('invalid username or password');
        return {
          auth: {
            policies: String(data.policies ?? 'reader').split(','),
            ttl: Number(data.ttl ?? 0),
            maxTtl: Number(data.max_ttl ?? 0),
            renewable: true,
            displayName: 'test-alice',
            metadata: { user: 'alice' },
            internal: { role: 'alice' },
            numUses: Number(data.num_uses ?? 0),
            period: Number(data.period ?? 0),
            boundCidrs: data.bound_cidrs ? String(data.bound_cidrs).split(',') : undefined,
          },
        };
      }
      if (path === 'public/hello') return { data: { hello: 'world', authenticated: !!request.token } };
      if (path === 'echo') return { data: { ...data, operation: request.operation } };
      if (path === 'nil') return null;
      if (path === 'list/') return { data: { keys: data.empty ? [] : ['a', 'b/'] } };
      if (path === 'boom') throw new LogicalError(502, 'upstream failed');
      return null;
    },
    async revokeSecret(lease: LeaseView): Promise<void> {
      if (state.failRevoke) throw new LogicalError(500, 'revocation failed');
      state.revoked.push(lease);
    },
    async renewSecret(lease: LeaseView, newExpireTime: number): Promise<void> {
      state.renewed.push({ lease, newExpireTime });
    },
    async renewAuth(token: TokenView) {
      state.renewAuth.push(token);
      if (state.roleMaxTtl === -1) throw badRequest('role deleted');
      return state.roleMaxTtl !== undefined ? { maxTtl: state.roleMaxTtl } : undefined;
    },
  });
}

export function newState(): TestEngineState {
  return {
    revoked: [],
    renewed: [],
    renewAuth: [],
    failRevoke: false,
    roleMaxTtl: undefined,
    lastRequest: undefined,
  };
}
