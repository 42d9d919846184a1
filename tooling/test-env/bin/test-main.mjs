#!/usr/bin/env node
// `pnpm test`: the main tier, in three steps that stop at the first failure.
//  1. `biome check .` once over the whole repository (lint and format);
//  2. `turbo run build typecheck`: the CPU-heavy compiler work, all packages in parallel;
//  3. `turbo run test --concurrency=4`: four packages' Vitest runs at a time (each with up to three files at once).
//     They mostly wait on PostgreSQL and HTTP, so they run after the compilers rather than beside them, and no more
//     than four at once: on a small machine, more only makes the real-time leases of the integration tests compete
//     for the CPU (a lease re-issued after its end) without finishing sooner.
// Arguments are passed to both turbo runs (e.g. `--filter=@leasehold/core...`, `--force`).
import { spawnSync } from 'node:child_process';

const extra = process.argv.slice(2);
const steps = [
  ['biome', ['check', '.']],
  ['turbo', ['run', 'build', 'typecheck', ...extra]],
  ['turbo', ['run', 'test', '--concurrency=4', ...extra]],
];
for (const [command, args] of steps) {
  console.log(`\n$ ${command} ${args.join(' ')}`);
  const { status, error } = spawnSync(command, args, {
    stdio: 'inherit',
    shell: process.platform === 'win32',
  });
  if (error) {
    console.error(
      `${command}: could not start (${error.message}); run it through pnpm so node_modules/.bin is on PATH`,
    );
    process.exit(127);
  }
  if (status !== 0) process.exit(status ?? 1);
}
