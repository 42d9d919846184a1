/** Vault's `cubbyhole/` engine: a private KV v1-style store per token, destroyed with the token. */
import {
  type Backend,
  dataResponse,
  errorResponse,
  type LogicalRequest,
  type LogicalResponse,
  listResponse,
  noContent,
  permissionDenied,
  Router,
  unsupportedOperation,
} from '../sdk/index.js';

export class CubbyholeBackend implements Backend {
  readonly type = 'cubbyhole';
  private readonly stores = new Map<string, Map<string, Record<string, unknown>>>();

  /** Forgets a revoked token's cubbyhole. */
  forget(tokenId: string): void {
    this.stores.delete(tokenId);
  }

  async exists(request: LogicalRequest): Promise<boolean> {
    return !!request.token && !!this.stores.get(request.token.id)?.has(request.path);
  }

  /** One path matching everything (Vault's `framework.MatchAllRegex("path")`), as Vault's cubbyhole backend. */
  private readonly router = new Router([
    {
      pattern: /^(?<path>.*)$/s,
      operations: {
        read: async (request, { path = '' }) => {
          const value = this.store(request).get(path);
          return value ? dataResponse(structuredClone(value)) : noContent();
        },
        list: async (request, { path = '' }) => {
          const keys = new Set<string>();
          for (const key of this.store(request).keys()) {
            if (!key.startsWith(path)) continue;
            const rest = key.slice(path.length);
            const slash = rest.indexOf('/');
            keys.add(slash < 0 ? rest : rest.slice(0, slash + 1));
          }
          return listResponse([...keys].sort());
        },
        update: async (request, { path = '' }) => {
          if (!path) throw unsupportedOperation();
          if (Object.keys(request.data).length === 0) throw errorResponse('missing data fields');
          const store = this.store(request);
          store.set(path, structuredClone(request.data));
          this.stores.set(this.tokenId(request), store);
          return noContent();
        },
        delete: async (request, { path = '' }) => {
          this.store(request).delete(path);
          return noContent();
        },
      },
    },
  ]);

  private tokenId(request: LogicalRequest): string {
    if (!request.token) throw permissionDenied();
    return request.token.id;
  }

  private store(request: LogicalRequest): Map<string, Record<string, unknown>> {
    return this.stores.get(this.tokenId(request)) ?? new Map<string, Record<string, unknown>>();
  }

  async handle(request: LogicalRequest): Promise<LogicalResponse | null> {
    this.tokenId(request);
    return this.router.dispatch(request);
  }
}
