/**
 * A minimal path router for the auth backends: patterns with `:name` segments (Vault's `GenericNameRegex`), one
 * handler per operation. `create` falls back to the `update` handler (Vault routes both to the same callback).
 */
import {
  LogicalError,
  type LogicalRequest,
  type LogicalResponse,
  type Operation,
  unsupportedOperation,
} from '../../backend.js';

/** Path parameters captured by `:name` segments. */
export type RouteParams = Record<string, string>;
/** One operation's handler. */
export type RouteHandler = (request: LogicalRequest, params: RouteParams) => Promise<LogicalResponse | null>;

interface Route {
  regex: RegExp;
  names: string[];
  handlers: Partial<Record<Operation, RouteHandler>>;
}

const NAME = '(\\w(?:[\\w.-]*\\w)?)';

/** Routes logical requests of one backend. */
export class Router {
  private readonly routes: Route[] = [];

  /**
   * Adds a route. `pattern` is relative to the mount, e.g. `role/:role_name/secret-id`; list routes end in `/`
   * (e.g. `role/`).
   */
  add(pattern: string, handlers: Partial<Record<Operation, RouteHandler>>): this {
    const names: string[] = [];
    const source = pattern
      .split('/')
      .map((segment) => {
        if (segment.startsWith(':')) {
          names.push(segment.slice(1));
          return NAME;
        }
        return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      })
      .join('/');
    this.routes.push({ regex: new RegExp(`^${source}$`), names, handlers });
    return this;
  }

  /** Dispatches a request: unknown path → 404 `unsupported path`; known path, other operation → 405. */
  async dispatch(request: LogicalRequest): Promise<LogicalResponse | null> {
    for (const route of this.routes) {
      const match = route.regex.exec(request.path);
      if (!match) continue;
      const params: RouteParams = {};
      route.names.forEach((name, index) => {
        params[name] = match[index + 1] ?? '';
      });
      const handler =
        route.handlers[request.operation] ??
        (request.operation === 'create' ? route.handlers.update : undefined);
      if (!handler) throw unsupportedOperation();
      return handler(request, params);
    }
    throw new LogicalError(404, 'unsupported path');
  }
}
