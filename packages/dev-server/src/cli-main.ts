import type { DevServerLogger } from './core/types.js';
import { type DevServer, startDevServer } from './server.js';

/** Parsed command line of `leasehold-dev-server`. */
export interface CliOptions {
  port: number;
  host: string;
  rootToken: string | undefined;
  tls: boolean;
  requireClientCert: boolean;
  logLevel: 'debug' | 'info' | 'warn' | 'error' | 'silent';
  help: boolean;
}

export const HELP = `Usage: leasehold-dev-server [options]

Starts an in-memory, Vault-API-compatible development server (like \`vault server -dev\`).
It is a development and test tool: everything lives in memory, nothing is persisted,
there is no HA, and it must never be used in production.

Options:
  --port <n>               TCP port to listen on (default 8200; 0 picks a free port)
  --host <address>         Interface to bind (default 127.0.0.1)
  --root-token <token>     ID of the root token (default: a random hvs.… token)
  --tls                    Serve HTTPS with a generated CA + server certificate for
                           127.0.0.1/localhost; the CA file path is printed (VAULT_CACERT)
  --require-client-cert    With --tls: require a client certificate signed by that CA (mTLS)
  --log-level <level>      debug | info | warn | error | silent (default info; debug logs
                           every request's method, path and status — never tokens or bodies)
  -h, --help               Show this help and exit

The server mounts KV v2 at secret/ and prints VAULT_ADDR / VAULT_TOKEN export lines.
Stop it with Ctrl-C (SIGINT) or SIGTERM.
Test-control endpoints live under /_leasehold/ (root token required); see the README.
`;

/** Thrown for a bad command line; the message names the flag and the fix. */
export class CliUsageError extends Error {
  override name = 'CliUsageError';
}

const LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;

/** Parses `leasehold-dev-server` arguments (`--flag value` and `--flag=value`; a leading `--` is ignored). */
export function parseCliArgs(argv: readonly string[]): CliOptions {
  const options: CliOptions = {
    port: 8200,
    host: '127.0.0.1',
    rootToken: undefined,
    tls: false,
    requireClientCert: false,
    logLevel: 'info',
    help: false,
  };
  const args = [...argv];
  while (args.length > 0) {
    let arg = args.shift() as string;
    if (arg === '--') continue;
    let inline: string | undefined;
    const eq = arg.indexOf('=');
    if (arg.startsWith('--') && eq > 0) {
      inline = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    }
    const value = (): string => {
      const v = inline ?? args.shift();
      if (v === undefined || (inline === undefined && v.startsWith('--')))
        throw new CliUsageError(
          `${arg} needs a value (e.g. ${arg} ${arg === '--port' ? '8200' : '<value>'})`,
        );
      return v;
    };
    switch (arg) {
      case '-h':
      case '--help':
        options.help = true;
        break;
      case '--port': {
        const v = value();
        const port = Number(v);
        if (!/^\d+$/.test(v) || port > 65535)
          throw new CliUsageError(`--port must be an integer between 0 and 65535, got "${v}"`);
        options.port = port;
        break;
      }
      case '--host':
        options.host = value();
        break;
      case '--root-token': {
        const v = value();
        if (!v.trim()) throw new CliUsageError('--root-token must not be empty');
        options.rootToken = v;
        break;
      }
      case '--tls':
        options.tls = true;
        break;
      case '--require-client-cert':
        options.requireClientCert = true;
        break;
      case '--log-level': {
        const v = value();
        if (!(LEVELS as readonly string[]).includes(v))
          throw new CliUsageError(`--log-level must be one of ${LEVELS.join(', ')}, got "${v}"`);
        options.logLevel = v as CliOptions['logLevel'];
        break;
      }
      default:
        throw new CliUsageError(`unknown option "${arg}" (see --help)`);
    }
  }
  if (options.requireClientCert && !options.tls)
    throw new CliUsageError('--require-client-cert needs --tls (add --tls)');
  return options;
}

/** A logger writing `time [LEVEL] message: k=v` lines, like Vault's. */
export function lineLogger(
  write: (line: string) => void,
  minimum: CliOptions['logLevel'],
): DevServerLogger | undefined {
  if (minimum === 'silent') return undefined;
  const rank = { debug: 0, info: 1, warn: 2, error: 3 } as const;
  return (level, message, fields) => {
    if (rank[level] < rank[minimum]) return;
    const extra = fields
      ? Object.entries(fields)
          .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
          .join(' ')
      : '';
    write(`${new Date().toISOString()} [${level.toUpperCase()}]  ${message}${extra ? `: ${extra}` : ''}\n`);
  };
}

/** Starts the server for a command line and prints the banner. Returns the server (undefined for --help). */
export async function runCli(
  argv: readonly string[],
  io: { stdout: (text: string) => void; stderr: (text: string) => void },
): Promise<DevServer | undefined> {
  const options = parseCliArgs(argv);
  if (options.help) {
    io.stdout(HELP);
    return undefined;
  }
  const server = await startDevServer({
    port: options.port,
    host: options.host,
    rootToken: options.rootToken,
    tls: options.tls,
    requireClientCert: options.requireClientCert,
    logger: lineLogger(io.stderr, options.logLevel),
  });
  const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  const lines = [
    '==> Leasehold dev server started! Log data will stream in below:',
    '',
    'WARNING! dev mode is enabled! In this mode, the server runs entirely in-memory',
    'and starts unsealed with a single unseal key. Nothing is persisted.',
    '',
    'You may need to set the following environment variables:',
    '',
    `    $ export VAULT_ADDR=${q(server.url)}`,
    `    $ export VAULT_TOKEN=${q(server.rootToken)}`,
  ];
  if (server.caCertPath) lines.push(`    $ export VAULT_CACERT=${q(server.caCertPath)}`);
  lines.push(
    '',
    'The unseal key and root token are displayed below in case you want to',
    'seal/unseal the server or re-authenticate.',
    '',
    `Unseal Key: ${server.unsealKey}`,
    `Root Token: ${server.rootToken}`,
  );
  if (server.caCertPath) lines.push(`CA Certificate: ${server.caCertPath}`);
  if (options.requireClientCert) lines.push('Client certificates: required (mTLS)');
  lines.push('', 'Development mode should NOT be used in production installations!', '');
  io.stdout(`${lines.join('\n')}\n`);
  return server;
}
