#!/usr/bin/env node
// Runs a command and prints how long it took: `node timed.mjs <label> -- <command> [args…]`. The root
// `pnpm test:soak` reports its own time with it. Exits with the command's status.
import { spawn } from 'node:child_process';

const separator = process.argv.indexOf('--');
const label = process.argv[2];
const command = separator === -1 ? [] : process.argv.slice(separator + 1);
if (!label || separator !== 3 || command.length === 0) {
  console.error('usage: node timed.mjs <label> -- <command> [args…]');
  process.exit(2);
}
const started = Date.now();
const child = spawn(command[0], command.slice(1), { stdio: 'inherit', shell: process.platform === 'win32' });
child.on('error', (error) => {
  console.error(`${label}: could not start ${command[0]}: ${error.message}`);
  process.exit(127);
});
child.on('exit', (code, signal) => {
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const outcome = code === 0 ? 'passed' : `failed (${signal ?? `exit ${code}`})`;
  console.log(`${label}: ${outcome} in ${seconds} s`);
  process.exit(code ?? 1);
});
