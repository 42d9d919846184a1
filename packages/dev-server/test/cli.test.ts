import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { build } from 'tsup';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliUsageError, HELP, parseCliArgs } from '../src/cli-main.js';

const outDir = join(import.meta.dirname, '..', 'node_modules', '.cache', 'cli-test');
const cli = join(outDir, 'cli.js');
const children: ChildProcess[] = [];

beforeAll(async () => {
  await mkdir(outDir, { recursive: true });
  await build({
    entry: { cli: join(import.meta.dirname, '..', 'src', 'cli.ts') },
    format: ['esm'],
    outDir,
    dts: false,
    silent: true,
    config: false,
    clean: false,
    target: 'node20',
    platform: 'node',
  });
}, 60_000);

afterAll(() => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
});

function run(args: string[]): {
  child: ChildProcess;
  output: () => { stdout: string; stderr: string };
  exit: Promise<number | null>;
  /** Resolves once stdout contains `text` (event-driven); rejects if the process exits first. */
  printed: (text: string) => Promise<void>;
} {
  const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c) => {
    stdout += c;
  });
  child.stderr?.on('data', (c) => {
    stderr += c;
  });
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const printed = (text: string): Promise<void> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        if (!stdout.includes(text)) return;
        child.stdout?.off('data', check);
        resolve();
      };
      child.stdout?.on('data', check);
      void exit.then((code) =>
        reject(new Error(`the CLI exited (${code}) before printing ${JSON.stringify(text)}`)),
      );
      check();
    });
  return { child, output: () => ({ stdout, stderr }), exit, printed };
}

describe('argument parsing', () => {
  it('parses flags in both forms and tolerates a leading --', () => {
    expect(
      parseCliArgs([
        '--',
        '--port',
        '8300',
        '--root-token=root',
        '--host',
        '0.0.0.0',
        '--log-level',
        'debug',
      ]),
    ).toMatchObject({
      port: 8300,
      rootToken: 'root',
      host: '0.0.0.0',
      logLevel: 'debug',
      tls: false,
    });
    expect(parseCliArgs([]).port).toBe(8200);
    expect(parseCliArgs(['--tls', '--require-client-cert'])).toMatchObject({
      tls: true,
      requireClientCert: true,
    });
  });

  it('rejects bad input with a message naming the flag', () => {
    expect(() => parseCliArgs(['--port', 'x'])).toThrow(/--port must be an integer/);
    expect(() => parseCliArgs(['--port'])).toThrow(CliUsageError);
    expect(() => parseCliArgs(['--nope'])).toThrow(/unknown option "--nope"/);
    expect(() => parseCliArgs(['--require-client-cert'])).toThrow(/needs --tls/);
  });

  it('documents every flag in --help', () => {
    for (const flag of [
      '--port',
      '--host',
      '--root-token',
      '--tls',
      '--require-client-cert',
      '--log-level',
      '--help',
    ])
      expect(HELP).toContain(flag);
  });
});

describe('leasehold-dev-server as a child process', () => {
  it('--help prints usage and exits 0', async () => {
    const p = run(['--help']);
    expect(await p.exit).toBe(0);
    expect(p.output().stdout).toContain('Usage: leasehold-dev-server');
  });

  it('a bad flag exits 2 with a message', async () => {
    const p = run(['--bogus']);
    expect(await p.exit).toBe(2);
    expect(p.output().stderr).toContain('unknown option "--bogus"');
  });

  it('starts, serves the Vault API, prints the exports and stops cleanly on SIGTERM', async () => {
    const p = run(['--', '--port', '0', '--root-token', 'cli-root', '--log-level', 'debug']);
    await p.printed('Root Token:');
    const { stdout } = p.output();
    expect(stdout).toContain("export VAULT_TOKEN='cli-root'");
    const addr = /export VAULT_ADDR='([^']+)'/.exec(stdout)?.[1];
    expect(addr).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const res = await fetch(`${addr}/v1/auth/token/lookup-self`, {
      headers: { 'x-vault-token': 'cli-root' },
    });
    expect(res.status).toBe(200);
    const kv = await fetch(`${addr}/v1/secret/data/x`, {
      method: 'POST',
      headers: { 'x-vault-token': 'cli-root', 'content-type': 'application/json' },
      body: JSON.stringify({ data: { password: 'cli-secret-value' } }),
    });
    expect(kv.status).toBe(200);
    p.child.kill('SIGTERM');
    expect(await p.exit).toBe(0);
    const { stderr } = p.output();
    expect(stderr).toContain('path=secret/data/x');
    expect(stderr).not.toContain('cli-root');
    expect(stderr).not.toContain('cli-secret-value');
  }, 30_000);

  it('--tls prints an https address and the CA file path', async () => {
    const p = run(['--port', '0', '--tls', '--log-level', 'silent']);
    await p.printed('Root Token:');
    const { stdout } = p.output();
    expect(stdout).toMatch(/export VAULT_ADDR='https:\/\/127\.0\.0\.1:\d+'/);
    expect(stdout).toMatch(/export VAULT_CACERT='[^']+ca\.pem'/);
    expect(stdout).toMatch(/Root Token: hvs\.[A-Za-z0-9]{24}/);
    p.child.kill('SIGINT');
    expect(await p.exit).toBe(0);
  }, 30_000);

  it('explains a port that is already in use', async () => {
    const { createServer } = await import('node:net');
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    const p = run(['--port', String(port)]);
    expect(await p.exit).toBe(1);
    expect(p.output().stderr).toContain('the port is already in use');
    await new Promise((resolve) => blocker.close(resolve));
  }, 30_000);
});
