/**
 * `pnpm --filter @leasehold/express-notes start`
 *
 * Environment: `VAULT_ADDR` plus `VAULT_TOKEN`, or `VAULT_ROLE_ID` + `VAULT_SECRET_ID` / `VAULT_SECRET_ID_FILE`
 * (AppRole) — every variable the Vault CLI reads; `DATABASE_URL=postgres://host:port/database` (no credentials);
 * `PORT` (default 3000) and `HOST` (default 127.0.0.1). SIGINT / SIGTERM: graceful shutdown (requests finish, the
 * pool drains, the leases and the token are revoked).
 */
import { databaseFromUrl, startNotesServer } from './app.js';

async function main(): Promise<void> {
  const databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) {
    console.error('Set DATABASE_URL=postgres://host:port/database (see apps/express-notes/README.md)');
    process.exitCode = 2;
    return;
  }
  const notes = await startNotesServer({
    database: databaseFromUrl(databaseUrl),
    port: Number(process.env.PORT ?? 3000),
    host: process.env.HOST ?? '127.0.0.1',
    signals: ['SIGINT', 'SIGTERM'],
  });
  console.log(`notes API (Express) on ${notes.url} — Ctrl-C stops it and revokes the leases`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
