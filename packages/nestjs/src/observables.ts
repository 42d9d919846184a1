import type { KvChange, KvWatchOptions, Vault, VaultEvents } from '@leasehold/core';
import { checkOption } from '@leasehold/core/host';
import { Observable } from 'rxjs';

/**
 * A client event as an Observable (e.g. `'lease:rotated'`, `'lease:revoked'`, `'login'`, `'circuit:open'`).
 * Subscribing adds a listener; unsubscribing removes it. Completes when the client closes.
 *
 * @example
 * ```ts
 * vaultEvents(vault, 'lease:rotated').subscribe((e) => log.info(e, 'credentials rotated'));
 * ```
 */
export function vaultEvents<K extends keyof VaultEvents>(vault: Vault, event: K): Observable<VaultEvents[K]> {
  checkOption('vaultEvents', 'vault', vault, 'vault', { required: true });
  checkOption('vaultEvents', 'event', event, 'string', {
    required: true,
    fix: "Pass a client event such as 'lease:rotated'.",
  });
  return new Observable<VaultEvents[K]>((subscriber) => {
    const off = vault.on(event, (payload) => subscriber.next(payload));
    const offClosed = vault.once('closed', () => subscriber.complete());
    return () => {
      off();
      offClosed();
    };
  });
}

/**
 * Changes of a KV v2 secret as an Observable (the core's `kv.watch()` polls the metadata; the cached value is
 * dropped before each emission, so `vault.kv.get()` inside the subscriber reads the new version). Poll errors go to
 * `options.onError` and the watch keeps polling; unsubscribing stops it.
 */
export function kvChanges(vault: Vault, path: string, options: KvWatchOptions = {}): Observable<KvChange> {
  checkOption('kvChanges', 'vault', vault, 'vault', { required: true });
  checkOption('kvChanges', 'path', path, 'string', {
    required: true,
    fix: "Pass the secret's path, e.g. 'app'.",
  });
  return new Observable<KvChange>((subscriber) => {
    const watch = vault.kv.watch(path, (change) => subscriber.next(change), options);
    watch.ready.catch((error: unknown) => subscriber.error(error));
    const offClosed = vault.once('closed', () => subscriber.complete());
    return () => {
      watch.stop();
      offClosed();
    };
  });
}
