import type { DevServer } from '../src/index.js';

export interface CallOptions {
  token?: string | null;
  body?: unknown;
  headers?: Record<string, string>;
  rawBody?: string;
}

export interface CallResult {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: test helper reads arbitrary JSON
  body: any;
  headers: Headers;
  text: string;
}

/** Calls the dev server over real HTTP (`path` relative to `/v1/`, or absolute when it starts with `/`). */
export async function call(
  server: DevServer,
  method: string,
  path: string,
  options: CallOptions = {},
): Promise<CallResult> {
  const headers: Record<string, string> = { ...(options.headers ?? {}) };
  const token = options.token === undefined ? server.rootToken : options.token;
  if (token) headers['x-vault-token'] = token;
  let body: string | undefined = options.rawBody;
  if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['content-type'] ??= 'application/json';
  }
  const url = path.startsWith('/') ? `${server.url}${path}` : `${server.url}/v1/${path}`;
  const response = await fetch(url, { method, headers, body });
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status: response.status, body: parsed, headers: response.headers, text };
}
