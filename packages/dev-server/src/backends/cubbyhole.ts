/** Vault's `cubbyhole/` engine: a private KV v1-style store per token, destroyed with the token. */
import {
  type Backend,
  badRequest,
  LogicalError,
  type LogicalRequest,
  type LogicalResponse,
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

  async handle(request: LogicalRequest): Promise<LogicalResponse | null> {
    if (!request.token) throw new LogicalError(403, 'permission denied');
    const store = this.stores.get(request.token.id) ?? new Map<string, Record<string, unknown>>();
    const { path, operation } = request;
    switch (operation) {
      case 'read': {
        const value = store.get(path);
        return value ? { data: structuredClone(value) } : null;
      }
      case 'list': {
        const keys = new Set<string>();
        for (const key of store.keys()) {
          if (!key.startsWith(path)) continue;
          const rest = key.slice(path.length);
          const slash = rest.indexOf('/');
          keys.add(slash < 0 ? rest : rest.slice(0, slash + 1));
        }
        return { data: { keys: [...keys].sort() } };
      }
      case 'create':
      case 'update':
        if (!path) throw new LogicalError(405, 'unsupported operation');
        if (Object.keys(request.data).length === 0) throw badRequest('missing data fields');
        store.set(path, structuredClone(request.data));
        this.stores.set(request.token.id, store);
        return null;
      case 'delete':
        store.delete(path);
        return null;
      default:
        throw new LogicalError(405, 'unsupported operation');
    }
  }
}
