/**
 * `leasehold-dev-server`: starts the in-memory Vault-compatible dev server from the command line.
 * Run with `--help` for the flags.
 */
import { CliUsageError, runCli } from './cli-main.js';

async function main(): Promise<void> {
  // Listen for signals before the banner is printed: a script that stops the server as soon as it reads the banner
  // must get a clean shutdown, not Node's default termination.
  let received: string | undefined;
  let onSignal = (signal: string): void => {
    received ??= signal;
  };
  process.once('SIGINT', () => onSignal('SIGINT'));
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  let server: Awaited<ReturnType<typeof runCli>>;
  try {
    server = await runCli(process.argv.slice(2), {
      stdout: (text) => process.stdout.write(text),
      stderr: (text) => process.stderr.write(text),
    });
  } catch (error) {
    if (error instanceof CliUsageError) {
      process.stderr.write(`leasehold-dev-server: ${error.message}\n`);
      process.exitCode = 2;
      return;
    }
    const code = (error as NodeJS.ErrnoException).code;
    const message =
      code === 'EADDRINUSE'
        ? 'the port is already in use (stop the other server or pick another with --port, 0 = any free port)'
        : error instanceof Error
          ? error.message
          : String(error);
    process.stderr.write(`leasehold-dev-server: ${message}\n`);
    process.exitCode = 1;
    return;
  }
  if (!server) return;
  const running = server;
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`==> ${signal} received, shutting down\n`);
    running
      .close()
      .then(() => {
        process.exitCode = 0;
      })
      .catch((error: unknown) => {
        process.stderr.write(`shutdown failed: ${error instanceof Error ? error.message : String(error)}\n`);
        process.exitCode = 1;
      });
  };
  onSignal = stop;
  if (received) stop(received);
}

void main();
