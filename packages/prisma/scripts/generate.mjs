// Generates the test Prisma client offline. `prisma generate` wants a schema engine binary only to exist: point
// PRISMA_SCHEMA_ENGINE_BINARY at a no-op script so nothing is downloaded (migrate/db push are not used: the tests
// create their tables with SQL).
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const engine = join(mkdtempSync(join(tmpdir(), 'leasehold-prisma-')), 'schema-engine');
writeFileSync(engine, '#!/bin/sh\nexit 0\n');
chmodSync(engine, 0o755);
execFileSync('prisma', ['generate', '--schema', 'test/prisma/schema.prisma'], {
  cwd: root,
  stdio: 'inherit',
  shell: process.platform === 'win32',
  env: {
    ...process.env,
    PRISMA_SCHEMA_ENGINE_BINARY: engine,
    PRISMA_HIDE_UPDATE_MESSAGE: '1',
    CHECKPOINT_DISABLE: '1',
  },
});
