/**
 * Namespaces, as Vault Enterprise, HCP Vault and OpenBao have them: isolated "vaults within the vault", each with its
 * own mounts, auth methods, policies, tokens and leases, nested by path (`team/app/`).
 *
 * - API: https://developer.hashicorp.com/vault/api-docs/system/namespaces
 * - Semantics: https://developer.hashicorp.com/vault/docs/enterprise/namespaces
 * - Open-source implementation: https://github.com/openbao/openbao (`vault/namespaces.go`, `vault/router.go`)
 *
 * A request's namespace is the `X-Vault-Namespace` header joined with the leading segments of the path that name
 * (nested) namespaces (`/v1/ns1/secret/...`). IDs of tokens, accessors and leases created in a namespace end with
 * `.<namespace id>`, as Vault's do.
 */
import { badRequest, LogicalError, type LogicalRequest } from '../sdk/index.js';
import { randomBase62 } from '../util/random.js';

/** What a mount, token or lease records about its namespace. */
export interface NamespaceRef {
  /** `root` for the root namespace, else 5 base62 characters. */
  readonly id: string;
  /** `''` for the root namespace, else the full path with a trailing slash (`team/app/`). */
  readonly path: string;
}

/** One namespace and the state it owns. `T` is the per-namespace view of the server core. */
export interface NamespaceEntry<T> extends NamespaceRef {
  readonly parent: NamespaceEntry<T> | undefined;
  customMetadata: Record<string, string>;
  /** The core as seen from inside this namespace (its own mounts and policies). */
  readonly view: T;
}

/** The root namespace's reference. */
export const ROOT_NAMESPACE: NamespaceRef = { id: 'root', path: '' };

/** Segments a namespace may not be named (the paths every namespace owns). */
const RESERVED = new Set(['sys', 'auth', 'cubbyhole', 'identity', 'root']);

/** `' /a/b/ '` → `a/b/`; `''` → `''`. */
export function normalizeNamespacePath(value: string): string {
  const trimmed = value.trim().replace(/^\/+|\/+$/g, '');
  return trimmed ? `${trimmed}/` : '';
}

/** The namespace ID a lease ID carries: its last segment is `<random>` (root) or `<random>.<namespace id>`. */
export function leaseNamespaceId(leaseId: string): string {
  return leaseId.slice(leaseId.lastIndexOf('/') + 1).split('.')[1] || ROOT_NAMESPACE.id;
}

/** The suffix to append to IDs created in `ns` (`''` in the root namespace). */
export function namespaceSuffix(ns: NamespaceRef | undefined): string {
  return ns && ns.id !== ROOT_NAMESPACE.id ? `.${ns.id}` : '';
}

/** Whether `inner` is `outer` or one of its descendants. */
export function isWithin(inner: NamespaceRef, outer: NamespaceRef): boolean {
  return inner.path.startsWith(outer.path);
}

/** The registry of namespaces. `makeView` builds the core's view for a new namespace; `destroy` tears one down. */
export class NamespaceRegistry<T> {
  readonly root: NamespaceEntry<T>;
  private readonly byPath = new Map<string, NamespaceEntry<T>>();

  constructor(
    rootView: T,
    private readonly hooks: {
      makeView(ns: NamespaceRef): T;
      destroy(ns: NamespaceEntry<T>): Promise<void>;
      /** The mount of `parent` that a new child namespace `name/` would shadow, if any. */
      conflictingMount(parent: NamespaceEntry<T>, name: string): string | undefined;
    },
  ) {
    this.root = { ...ROOT_NAMESPACE, parent: undefined, customMetadata: {}, view: rootView };
    this.byPath.set('', this.root);
  }

  /** A namespace by full path (normalized), or undefined. */
  get(path: string): NamespaceEntry<T> | undefined {
    return this.byPath.get(normalizeNamespacePath(path));
  }

  /** The namespace a reference points to (falls back to root). */
  of(ref: NamespaceRef | undefined): NamespaceEntry<T> {
    return (ref && this.byPath.get(ref.path)) ?? this.root;
  }

  /**
   * Splits a request path into the namespace it addresses (starting from `base`, the header's namespace) and the
   * path inside it: the longest run of leading segments that name nested namespaces.
   */
  resolve(base: NamespaceEntry<T>, path: string): { ns: NamespaceEntry<T>; rest: string } {
    let ns = base;
    let rest = path;
    for (;;) {
      const slash = rest.indexOf('/');
      const segment = slash < 0 ? rest : rest.slice(0, slash);
      if (!segment || RESERVED.has(segment)) break;
      const child = this.byPath.get(`${ns.path}${segment}/`);
      if (!child) break;
      ns = child;
      rest = slash < 0 ? '' : rest.slice(slash + 1);
    }
    return { ns, rest };
  }

  /** Every namespace but the root. */
  nonRoot(): NamespaceEntry<T>[] {
    return [...this.byPath.values()].filter((entry) => entry !== this.root);
  }

  /** Direct children of `ns`. */
  children(ns: NamespaceRef): NamespaceEntry<T>[] {
    return [...this.byPath.values()].filter(
      (entry) => entry.parent?.path === ns.path && entry.path !== ns.path,
    );
  }

  private describe(entry: NamespaceEntry<T>): Record<string, unknown> {
    return { id: entry.id, path: entry.path, custom_metadata: { ...entry.customMetadata } };
  }

  /**
   * `sys/namespaces` and `sys/namespaces/:path` inside namespace `current` (paths are relative to it): create
   * (POST/PUT), read, list, patch of `custom_metadata`, delete. Deleting a namespace that has children is refused,
   * as OpenBao does (`cannot delete namespace ("a/") containing child namespaces`).
   */
  async handle(
    current: NamespaceEntry<T>,
    request: LogicalRequest,
    rel: string,
  ): Promise<{ data: Record<string, unknown> } | null> {
    const op = request.operation;
    const name = normalizeNamespacePath(rel);
    if (!name) {
      if (op !== 'list') throw new LogicalError(405, 'unsupported operation');
      const kids = this.children(current).sort((a, b) => (a.path < b.path ? -1 : 1));
      if (kids.length === 0) return null;
      const keys = kids.map((k) => k.path.slice(current.path.length));
      const keyInfo: Record<string, unknown> = {};
      for (const [i, k] of kids.entries()) keyInfo[keys[i] as string] = this.describe(k);
      return { data: { keys, key_info: keyInfo } };
    }
    const fullPath = `${current.path}${name}`;
    const existing = this.byPath.get(fullPath);
    switch (op) {
      case 'read':
        return existing ? { data: this.describe(existing) } : null;
      case 'create':
      case 'update': {
        if (existing) {
          // Writing an existing namespace updates its custom metadata (OpenBao's ModifyNamespaceByPath).
          if (request.data.custom_metadata !== undefined)
            existing.customMetadata = this.metadata(request.data.custom_metadata);
          return { data: this.describe(existing) };
        }
        const segments = name.slice(0, -1).split('/');
        const leaf = segments.pop() as string;
        const parent = this.byPath.get(`${current.path}${segments.length ? `${segments.join('/')}/` : ''}`);
        if (!parent)
          throw badRequest(`parent namespace does not exist: ${current.path}${segments.join('/')}/`);
        if (RESERVED.has(leaf) || !/^[A-Za-z0-9._-]+$/.test(leaf) || leaf === '.' || leaf === '..')
          throw badRequest(`${JSON.stringify(leaf)} is not a valid namespace name`);
        const conflict = this.hooks.conflictingMount(parent, `${leaf}/`);
        if (conflict) throw badRequest(`new namespace conflicts with existing mount: ${conflict}`);
        const customMetadata = this.metadata(request.data.custom_metadata);
        const ref = { id: this.newId(), path: fullPath };
        const entry: NamespaceEntry<T> = { ...ref, parent, customMetadata, view: this.hooks.makeView(ref) };
        this.byPath.set(fullPath, entry);
        return { data: this.describe(entry) };
      }
      case 'patch': {
        if (!existing) return null;
        const patch = this.metadata(request.data.custom_metadata);
        for (const [k, v] of Object.entries(patch)) {
          if (v === null) delete existing.customMetadata[k];
          else existing.customMetadata[k] = v;
        }
        return { data: this.describe(existing) };
      }
      case 'delete': {
        if (!existing) return null;
        if (this.children(existing).length > 0)
          throw badRequest(
            `cannot delete namespace (${JSON.stringify(existing.path)}) containing child namespaces`,
          );
        await this.hooks.destroy(existing);
        this.byPath.delete(existing.path);
        return null;
      }
      default:
        throw new LogicalError(405, 'unsupported operation');
    }
  }

  private metadata(value: unknown): Record<string, string> {
    if (value === undefined || value === null) return {};
    if (typeof value !== 'object' || Array.isArray(value))
      throw badRequest('custom_metadata must be a map of strings');
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (v !== null && typeof v !== 'string') throw badRequest(`custom_metadata.${k} must be a string`);
      out[k] = v as string;
    }
    return out;
  }

  private newId(): string {
    const ids = new Set([...this.byPath.values()].map((n) => n.id));
    for (;;) {
      const id = randomBase62(5);
      if (!ids.has(id)) return id;
    }
  }
}
