/**
 * The one place where request telemetry (`@leasehold/core/otel`) hooks into the client: every transport request
 * of the client (engine requests, logins, renew-self, lease renewals and revocations) goes through
 * {@link ObservedTransport}. Without telemetry installed a request costs one property check.
 */
import type { Transport, TransportRequestOptions, VaultMethod, VaultResponse } from './types.js';

/** @internal Wraps one transport request (e.g. in a span). `send` performs it with the options given. */
export interface RequestTelemetry {
  request<TBody>(
    method: VaultMethod,
    path: string,
    options: TransportRequestOptions,
    send: (options: TransportRequestOptions) => Promise<VaultResponse<TBody>>,
  ): Promise<VaultResponse<TBody>>;
}

/** A transport that hands each request to the installed {@link RequestTelemetry}, if any. */
export class ObservedTransport implements Transport {
  /** The installed telemetry (undefined: requests go straight to the inner transport). */
  telemetry: RequestTelemetry | undefined;
  readonly #inner: Transport;

  constructor(inner: Transport) {
    this.#inner = inner;
  }

  request<TBody>(
    method: VaultMethod,
    path: string,
    options: TransportRequestOptions = {},
  ): Promise<VaultResponse<TBody>> {
    const telemetry = this.telemetry;
    if (telemetry === undefined) return this.#inner.request<TBody>(method, path, options);
    return telemetry.request<TBody>(method, path, options, (o) =>
      this.#inner.request<TBody>(method, path, o),
    );
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}
