/**
 * The one path router of the dev server's engines, modelled on Vault's `framework.Path` / `framework.Backend`
 * (https://github.com/hashicorp/vault/blob/main/sdk/framework/path.go and backend.go): each path is a pattern with
 * named captures, a field schema and one handler per operation. The router matches the request path (first match
 * wins), merges the body/query with the captures (captures win), validates every given field of the schema
 * (400 `Field validation failed: …`) and calls the handler with a {@link FieldData}.
 *
 * Patterns: literal segments, `:name` for one name segment (Vault's `GenericNameRegex`: `\w(([\w-.]+)?\w)?`),
 * `*name` for the rest of the path (Vault's `MatchAllRegex`), or a `RegExp` with named groups. List paths end in `/`.
 */
import { FieldData, type FieldSchemas } from './fields.js';
import {
  type Backend,
  LogicalError,
  type LogicalRequest,
  type LogicalResponse,
  type Operation,
  unsupportedOperation,
} from './logical.js';

/** Path parameters captured by `:name` / `*name` segments or named groups. */
export type RouteParams = Record<string, string>;

/**
 * One operation's handler: the request, the path's captures, and the request's fields read through the schema.
 * It may answer synchronously or with a promise.
 */
export type RouteHandler = (
  request: LogicalRequest,
  params: RouteParams,
  fields: FieldData,
) => Promise<LogicalResponse | null> | LogicalResponse | null;

/** One path of a backend (Vault's `framework.Path`). */
export interface PathSpec {
  /** Relative to the mount, e.g. `role/:role_name/secret-id`, `data/*path`, or a RegExp with named groups. */
  readonly pattern: string | RegExp;
  /** The fields the path accepts; given fields are validated before the handler runs. */
  readonly fields?: FieldSchemas;
  /** Handlers by operation. `create` falls back to `update` (Vault routes both to the same callback). */
  readonly operations: Partial<Record<Operation, RouteHandler>>;
}

interface Route {
  readonly regex: RegExp;
  readonly spec: PathSpec;
}

/** Vault's `framework.GenericNameRegex`. */
export const NAME_PATTERN = '\\w(?:(?:[\\w.-]+)?\\w)?';

/** Compiles a path pattern to an anchored RegExp with named groups. */
export function compilePattern(pattern: string | RegExp): RegExp {
  if (pattern instanceof RegExp) {
    const source = pattern.source.replace(/^\^?/, '^').replace(/\$?$/, '$');
    return new RegExp(source, pattern.flags);
  }
  const source = pattern
    .split('/')
    .map((segment) => {
      if (segment.startsWith(':')) return `(?<${segment.slice(1)}>${NAME_PATTERN})`;
      if (segment.startsWith('*')) return `(?<${segment.slice(1)}>.+)`;
      return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    })
    .join('/');
  return new RegExp(`^${source}$`, 's');
}

/** Routes the logical requests of one backend. */
export class Router {
  private readonly routes: Route[] = [];

  constructor(paths: readonly PathSpec[] = []) {
    for (const spec of paths) this.path(spec);
  }

  /** Adds a path. */
  path(spec: PathSpec): this {
    this.routes.push({ regex: compilePattern(spec.pattern), spec });
    return this;
  }

  /** Adds a path from its parts (shorthand for {@link Router.path}). */
  add(
    pattern: string | RegExp,
    operations: Partial<Record<Operation, RouteHandler>>,
    fields?: FieldSchemas,
  ): this {
    return this.path(fields ? { pattern, operations, fields } : { pattern, operations });
  }

  /** The path a request path matches, with its captures; `undefined` when none does. */
  match(path: string): { spec: PathSpec; params: RouteParams } | undefined {
    for (const route of this.routes) {
      const match = route.regex.exec(path);
      if (!match) continue;
      const params: RouteParams = {};
      for (const [name, value] of Object.entries(match.groups ?? {})) params[name] = value ?? '';
      return { spec: route.spec, params };
    }
    return undefined;
  }

  /** Dispatches a request: unknown path → 404 `unsupported path`; known path, other operation → 405. */
  async dispatch(request: LogicalRequest): Promise<LogicalResponse | null> {
    const found = this.match(request.path);
    if (!found) throw new LogicalError(404, 'unsupported path');
    const { spec, params } = found;
    const handler =
      spec.operations[request.operation] ??
      (request.operation === 'create' ? spec.operations.update : undefined);
    if (!handler) throw unsupportedOperation();
    const fields = new FieldData({ ...request.data, ...params }, spec.fields ?? {});
    fields.validate();
    return await handler(request, params, fields);
  }
}

/** What {@link defineBackend} needs: the mount type, the paths, and the optional hooks of {@link Backend}. */
export interface BackendDefinition extends Omit<Backend, 'handle'> {
  readonly paths: readonly PathSpec[];
}

/**
 * A {@link Backend} that routes every request through its paths (Vault's `framework.Backend`): the usual way to
 * write an engine.
 */
export function defineBackend(definition: BackendDefinition): Backend {
  const router = new Router(definition.paths);
  const { paths: _paths, ...hooks } = definition;
  return { ...hooks, handle: (request) => router.dispatch(request) };
}
