/**
 * Reply helpers. The logical ones build what a backend handler returns (Vault's `logical.Response` helpers:
 * https://github.com/hashicorp/vault/blob/main/sdk/logical/response.go); the raw ones build the HTTP reply the
 * server writes (Vault's `respondError` / `respondOk` in https://github.com/hashicorp/vault/blob/main/http/handler.go).
 */
import { LogicalError, type LogicalResponse } from './logical.js';

/** A `data` response (200 with Vault's envelope). */
export function dataResponse(data: Record<string, unknown>, warnings?: string[]): LogicalResponse {
  return warnings && warnings.length > 0 ? { data, warnings } : { data };
}

/**
 * A list response (Vault's `logical.ListResponse`): `{"data":{"keys":[...]}}`. An empty list is answered 404 by
 * the server, as Vault does.
 */
export function listResponse(keys: readonly string[]): LogicalResponse {
  return { data: { keys: [...keys] } };
}

/** "Nothing to return": 204 for writes and deletes, 404 `{"errors":[]}` for reads and lists. */
export function noContent(): null {
  return null;
}

/** A 400 error response with Vault's message (Vault's `logical.ErrorResponse`); throw it. */
export function errorResponse(message: string): LogicalError {
  return new LogicalError(400, message);
}

/** What the HTTP layer sends back. `drop` = destroy the socket without answering. */
export interface RawReply {
  status: number;
  headers: Record<string, string>;
  body: string | Buffer;
  drop?: boolean;
}

const JSON_HEADERS = { 'content-type': 'application/json' };

/** Vault's error body `{"errors":[...]}` with a status. */
export function errorReply(status: number, errors: string[], extra: Record<string, string> = {}): RawReply {
  return { status, headers: { ...JSON_HEADERS, ...extra }, body: JSON.stringify({ errors }) };
}

/** A JSON body with a status. */
export function jsonReply(status: number, body: unknown): RawReply {
  return { status, headers: { ...JSON_HEADERS }, body: JSON.stringify(body) };
}

/** 204 No Content. */
export function noContentReply(): RawReply {
  return { status: 204, headers: {}, body: '' };
}
