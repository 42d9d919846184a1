import { type KvMountOptions, type Vault, VaultError, VaultErrorCode } from '@leasehold/core';
import {
  checkOption,
  checkOptionsObject,
  isVault,
  VaultHost,
  type VaultHostOptions,
} from '@leasehold/core/host';

/** Options of {@link vaultConfig}. */
export interface VaultConfigOptions {
  /**
   * The client to read with (e.g. the one you also pass to `VaultModule.forRoot({ vault })`), or client options:
   * a short-lived client is then created from them (default: from `VAULT_*` environment variables), logged in,
   * used for the read and closed.
   */
  vault?: Vault | VaultHostOptions;
  /** Put the values under this key: `config.get('db.password')` instead of `config.get('password')`. */
  namespace?: string;
  /** How long to wait for Vault, ms (default 30 000). */
  readyTimeoutMs?: number;
}

/**
 * A `@nestjs/config` loader: the KV secret at `path` (`secret/data/app` for KV v2, `kv/app` for KV v1; the first
 * segment is the mount) as configuration values, so they appear in `ConfigService`.
 *
 * @example
 * ```ts
 * ConfigModule.forRoot({ load: [vaultConfig('secret/data/app')] });
 * // later: config.get<string>('apiKey')
 * ```
 */
export function vaultConfig(
  path: string,
  options: VaultConfigOptions = {},
): () => Promise<Record<string, unknown>> {
  const { mount, rel, kvVersion } = splitKvPath(path);
  checkOptionsObject('vaultConfig', options);
  if (!isVault(options.vault)) checkOption('vaultConfig', 'vault', options.vault, 'object');
  checkOption('vaultConfig', 'namespace', options.namespace, 'string');
  checkOption('vaultConfig', 'readyTimeoutMs', options.readyTimeoutMs, 'positiveMs');
  return async () => {
    const host = new VaultHost(
      isVault(options.vault)
        ? { vault: options.vault, readyTimeoutMs: options.readyTimeoutMs }
        : { ...options.vault, readyTimeoutMs: options.readyTimeoutMs ?? options.vault?.readyTimeoutMs },
    );
    try {
      await host.start();
      const mountOptions: KvMountOptions = kvVersion ? { mount, kvVersion } : { mount };
      const secret = await host.vault.kv.get(rel, mountOptions);
      const data = { ...secret.data.reveal() };
      return options.namespace ? { [options.namespace]: data } : data;
    } finally {
      await host.close();
    }
  };
}

/** `secret/data/app` → mount `secret`, path `app`, KV v2; `kv/app` → mount `kv`, path `app` (version detected). */
function splitKvPath(path: string): { mount: string; rel: string; kvVersion: 2 | undefined } {
  const parts = typeof path === 'string' ? path.split('/').filter(Boolean) : [];
  const [mount, second, ...rest] = parts;
  if (!mount || !second) {
    throw new VaultError(
      VaultErrorCode.CONFIG,
      `vaultConfig(path): "${String(path)}" must be "<mount>/<path>" (e.g. "secret/data/app" for KV v2).`,
    );
  }
  if (second === 'data' && rest.length > 0) return { mount, rel: rest.join('/'), kvVersion: 2 };
  return { mount, rel: [second, ...rest].join('/'), kvVersion: undefined };
}
