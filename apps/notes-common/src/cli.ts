/**
 * `pnpm --filter @leasehold/notes-common configure` — configures a running Vault (or the dev server) and a PostgreSQL
 * database for the notes examples, then prints the environment a notes service needs.
 *
 * Reads `VAULT_ADDR`, `VAULT_TOKEN` (an operator/root token) and `DATABASE_URL` (a superuser URL of the database
 * for the notes). The AppRole secret ID is written to a file readable only by you (never printed).
 */
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNotesSchema, setupNotesVault } from './setup.js';

async function main(): Promise<void> {
  const address = process.env.VAULT_ADDR;
  const operatorToken = process.env.VAULT_TOKEN;
  const databaseUrl = process.env.DATABASE_URL;
  if (!address || !operatorToken || !databaseUrl) {
    console.error(
      'Set VAULT_ADDR, VAULT_TOKEN (an operator token) and DATABASE_URL (a superuser URL of the notes database),\n' +
        'e.g. VAULT_ADDR=http://127.0.0.1:8200 VAULT_TOKEN=root DATABASE_URL=postgres://postgres:postgres@127.0.0.1:5432/notes',
    );
    process.exitCode = 2;
    return;
  }
  await createNotesSchema(databaseUrl);
  const setup = await setupNotesVault({ address, operatorToken, databaseUrl });
  const secretIdFile = process.env.NOTES_SECRET_ID_FILE ?? join(tmpdir(), 'leasehold-notes-secret-id');
  writeFileSync(secretIdFile, setup.secretId, { mode: 0o600 });
  const { host, port, database } = setup.database;
  console.log('Vault and the database are configured for the notes examples. Run a service with:\n');
  console.log(`export VAULT_ADDR=${address}`);
  console.log('unset VAULT_TOKEN');
  console.log(`export VAULT_ROLE_ID=${setup.roleId}`);
  console.log(`export VAULT_SECRET_ID_FILE=${secretIdFile}`);
  console.log(`export DATABASE_URL=postgres://${host}:${port}/${encodeURIComponent(database)}`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
