#!/usr/bin/env node
// `pnpm test:consumers`: the full `pnpm build` (JavaScript and declarations, every package — this tier does not
// rely on what an earlier step built), then the consumer runner (src/run.ts, bundled into dist/run.js by that build).
import { spawnSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
console.log('$ pnpm build');
// With declarations whatever the environment says (`pnpm test` builds without them; the tarballs must have them):
// LEASEHOLD_DECLARATIONS unset, as in the packaging tier, so that in CI this build is turbo's cache of that one.
const { LEASEHOLD_DECLARATIONS: _unset, ...env } = process.env;
const build = spawnSync('pnpm', ['build', '--output-logs=errors-only'], {
  cwd: root,
  env,
  stdio: 'inherit',
  shell: process.platform === 'win32',
});
if (build.error) {
  console.error(`pnpm: could not start (${build.error.message})`);
  process.exit(127);
}
if (build.status !== 0) process.exit(build.status ?? 1);
await import('../dist/run.js');
