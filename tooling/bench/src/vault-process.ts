/**
 * The dev server of a benchmark, in a child process by default: in production Vault is another process, and hosting
 * it on the benchmark's event loop would bill its CPU (issuing, renewing, CREATE/DROP ROLE) to what is measured.
 * BENCH_INPROCESS_VAULT=1 hosts it in the benchmark process instead.
 */
import { fork } from 'node:child_process';
import { startDevServer } from '@leasehold/dev-server';

/** argv flag of the child process that hosts the dev server. */
export const DEV_SERVER_CHILD = '--dev-server-child';

export interface VaultProcess {
  url: string;
  rootToken: string;
  unsealKey: string;
  /** Whether the server runs in this process. */
  inProcess: boolean;
  close(): Promise<void>;
}

interface ServerRef {
  url: string;
  rootToken: string;
  unsealKey: string;
}

/** In the child: start the dev server, hand its address to the parent, stop when the parent disconnects. */
export async function devServerChild(): Promise<void> {
  const server = await startDevServer();
  process.send?.({ url: server.url, rootToken: server.rootToken, unsealKey: server.unsealKey });
  process.once('disconnect', () => {
    server.close().finally(() => process.exit(0));
  });
}

/** Starts the dev server; `entry` is the benchmark's own file (`import.meta.url`), run again as the child. */
export async function startVault(entry: string): Promise<VaultProcess> {
  if (process.env.BENCH_INPROCESS_VAULT === '1') {
    const server = await startDevServer();
    return {
      url: server.url,
      rootToken: server.rootToken,
      unsealKey: server.unsealKey,
      inProcess: true,
      close: () => server.close(),
    };
  }
  const child = fork(new URL(entry), [DEV_SERVER_CHILD], { stdio: 'inherit' });
  const ref = await new Promise<ServerRef>((resolve, reject) => {
    child.once('message', (msg) => resolve(msg as ServerRef));
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the dev server process exited early (code ${code})`)));
  });
  return {
    ...ref,
    inProcess: false,
    close: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.disconnect();
      }),
  };
}
