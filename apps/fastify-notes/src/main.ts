/**
 * `pnpm --filter @leasehold/fastify-notes start`
 *
 * Environment: `VAULT_ADDR` plus `VAULT_TOKEN`, or `VAULT_ROLE_ID` + `VAULT_SECRET_ID` / `VAULT_SECRET_ID_FILE`
 * (AppRole) — every variable the Vault CLI reads; `DATABASE_URL=postgres://host:port/database` (no credentials);
 * `PORT` (default 3000) and `HOST` (default 127.0.0.1). SIGINT / SIGTERM close the server, drain the pool and revoke
 * the leases and the token.
 */
import { buildNotesApp, databaseFromUrl } from './app.js';

async function main(): Promise<void> {
  const databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) {
    console.error('Set DATABASE_URL=postgres://host:port/database (see apps/fastify-notes/README.md)');
    process.exitCode = 2;
    return;
  }
  const app = await buildNotesApp({ database: databaseFromUrl(databaseUrl), logger: { level: 'info' } });
  let closing = false;
  const shutdown = (signal: NodeJS.Signals): void => {
    if (closing) return;
    closing = true;
    app.log.info({ signal }, 'shutting down: draining the pool, revoking leases and the token');
    app.close().then(
      () => process.exit(0),
      (error: unknown) => {
        app.log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
  await app.listen({ port: Number(process.env.PORT ?? 3000), host: process.env.HOST ?? '127.0.0.1' });
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
