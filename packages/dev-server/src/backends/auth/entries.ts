/**
 * Named entries of an auth method (AppRole/JWT/Kubernetes roles, userpass users, cert entries): case-insensitive
 * names, and the `<prefix>/` LIST plus `<prefix>/:name` read/write/delete routes every method has.
 */
import type { LogicalRequest, LogicalResponse, RouteHandler, Router } from '../../sdk/index.js';

/** Case-insensitive map of named entries, served under `<prefix>/:name`. */
export class Entries<T> {
  private readonly map = new Map<string, T>();

  /** @param prefix the path segment of the entries, e.g. `role`, `users`, `certs`. */
  constructor(readonly prefix: string) {}

  /** Vault lower-cases these names. */
  static key(name: string): string {
    return name.toLowerCase();
  }

  get(name: string): T | undefined {
    return this.map.get(Entries.key(name));
  }

  set(name: string, value: T): void {
    this.map.set(Entries.key(name), value);
  }

  delete(name: string): boolean {
    return this.map.delete(Entries.key(name));
  }

  has(name: string): boolean {
    return this.map.has(Entries.key(name));
  }

  /** Entries sorted by name. */
  sorted(): T[] {
    return [...this.map.keys()].sort().map((key) => this.map.get(key) as T);
  }

  /** Entries in insertion order. */
  values(): IterableIterator<T> {
    return this.map.values();
  }

  /**
   * Adds `<prefix>/` (LIST: sorted names, 404 when empty) and `<prefix>/:name` (read → `data` or 404, update →
   * `write`, delete → 204 after `onDelete`).
   */
  addRoutes(
    router: Router,
    handlers: {
      read: (entry: T) => Record<string, unknown>;
      write: RouteHandler;
      onDelete?: (name: string) => void;
    },
  ): void {
    router.add(`${this.prefix}/`, {
      list: async () => {
        const keys = [...this.map.keys()].sort();
        return keys.length > 0 ? { data: { keys } } : null;
      },
    });
    router.add(`${this.prefix}/:name`, {
      read: async (_request, params): Promise<LogicalResponse | null> => {
        const entry = this.get(params.name ?? '');
        return entry === undefined ? null : { data: handlers.read(entry) };
      },
      update: handlers.write,
      delete: async (_request, params) => {
        const name = Entries.key(params.name ?? '');
        this.map.delete(name);
        handlers.onDelete?.(name);
        return null;
      },
    });
  }

  /** The backend's `exists` for `<prefix>/:name` writes (ACL `create` vs `update`). */
  exists(request: LogicalRequest): boolean {
    const head = `${this.prefix}/`;
    if (!request.path.startsWith(head)) return false;
    const name = request.path.slice(head.length);
    return name !== '' && !name.includes('/') && this.has(name);
  }
}
