/**
 * `pnpm --filter @leasehold/nestjs-notes start`
 *
 * Environment: `VAULT_ADDR` plus `VAULT_TOKEN`, or `VAULT_ROLE_ID` + `VAULT_SECRET_ID` / `VAULT_SECRET_ID_FILE`
 * (AppRole) — every variable the Vault CLI reads; `DATABASE_URL=postgres://host:port/database` (no credentials);
 * `PORT` (default 3000) and `HOST` (default 127.0.0.1). SIGINT / SIGTERM run Nest's shutdown hooks: the pool drains,
 * the leases and the token are revoked.
 */
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { databaseFromUrl, NotesAppModule } from './app.module.js';

async function main(): Promise<void> {
  const databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) {
    console.error('Set DATABASE_URL=postgres://host:port/database (see apps/nestjs-notes/README.md)');
    process.exitCode = 2;
    return;
  }
  const app = await NestFactory.create(NotesAppModule.register({ database: databaseFromUrl(databaseUrl) }), {
    abortOnError: false,
    logger: ['error', 'warn', 'log'],
  });
  app.enableShutdownHooks(['SIGINT', 'SIGTERM']);
  const host = process.env.HOST ?? '127.0.0.1';
  const port = Number(process.env.PORT ?? 3000);
  await app.listen(port, host);
  console.log(`notes API (NestJS) on http://${host}:${port} — Ctrl-C stops it and revokes the leases`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
