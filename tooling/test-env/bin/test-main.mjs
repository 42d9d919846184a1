#!/usr/bin/env node
// `pnpm test`: the main tier, in steps that stop at the first failure.
//  1. `biome check .` once over the whole repository (lint and format);
//  2. `turbo run generate` (the Prisma client the tests and the type-check read);
//  3. at the same time, on the two halves of the machine:
//     - `turbo run build` without declarations (LEASEHOLD_DECLARATIONS=false: esbuild only, a few seconds a
//       package; the tests run the JavaScript, and declarations are checked by the packaging tier), and
//     - `pnpm typecheck`'s one TypeScript program over every package's sources, tests and type tests (the root
//       tsconfig.json), instead of one program per package that re-reads its dependencies' declarations;
//  4. `turbo run test --concurrency=4`: four packages' Vitest runs at a time (each with up to three files at once).
//     They mostly wait on PostgreSQL and HTTP, so they run after the compilers rather than beside them, and no more
//     than four at once: on a small machine, more only makes the real-time leases of the integration tests compete
//     for the CPU (a lease re-issued after its end) without finishing sooner.
// Arguments are passed to every turbo run (e.g. `--filter=@leasehold/core...`, `--force`).
import { spawn } from 'node:child_process';

const extra = process.argv.slice(2);
// The same value in every step, so that the test step finds the builds of step 3 in turbo's cache.
const env = { ...process.env, LEASEHOLD_DECLARATIONS: 'false' };

/** Runs `command args`, output inherited; resolves with its exit status. */
function run(command, args) {
  console.log(`\n$ ${command} ${args.join(' ')}`);
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: 'inherit', env, shell: process.platform === 'win32' });
    child.on('error', (error) => {
      console.error(
        `${command}: could not start (${error.message}); run it through pnpm so node_modules/.bin is on PATH`,
      );
      resolve(127);
    });
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

/** Stops with the first non-zero status among `statuses`. */
function stopOnFailure(...statuses) {
  const failed = statuses.find((status) => status !== 0);
  if (failed !== undefined) process.exit(failed);
}

stopOnFailure(await run('biome', ['check', '.']));
stopOnFailure(await run('turbo', ['run', 'generate', '--output-logs=errors-only', ...extra]));
stopOnFailure(
  ...(await Promise.all([
    run('turbo', ['run', 'build', '--output-logs=errors-only', ...extra]),
    run('tsc', ['-p', 'tsconfig.json']).then(async (status) =>
      status === 0 ? run('tsc', ['-p', 'tooling/vitest/tsconfig.json']) : status,
    ),
  ])),
);
stopOnFailure(await run('turbo', ['run', 'test', '--concurrency=4', ...extra]));
