import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { VaultError, VaultErrorCode } from '../../src/errors.js';
import type { LeaseSnapshot, LeaseState, VaultEvents } from '../../src/index.js';
import { LEASE_TRANSITIONS, LeaseEventPublisher, type LeaseEventSink } from '../../src/lease/publisher.js';

const README = new URL('../../README.md', import.meta.url);

/** The "Lease states" section of the package README. */
function leaseStatesSection(): string {
  const text = readFileSync(README, 'utf8');
  const start = text.indexOf('#### Lease states\n');
  expect(start).toBeGreaterThanOrEqual(0);
  const rest = text.slice(start + 1);
  const end = rest.search(/\n#{1,4} /);
  return end < 0 ? rest : rest.slice(0, end);
}

/** The Markdown table of {@link LEASE_TRANSITIONS}, as the README shows it. */
function transitionsTable(): string {
  const rows = (Object.keys(LEASE_TRANSITIONS) as LeaseState[]).map((from) => {
    const to = [...LEASE_TRANSITIONS[from]].map((s) => `\`${s}\``).join(', ');
    return `| \`${from}\` | ${to || '—'} |`;
  });
  return ['| from | to |', '|---|---|', ...rows].join('\n');
}

/** The rows of the Markdown table whose header starts with `| ${first} |`. */
function tableRows(section: string, first: string): string[] {
  const lines = section.split('\n');
  const head = lines.findIndex((l) => l.startsWith(`| ${first} |`));
  expect(head).toBeGreaterThanOrEqual(0);
  const rows: string[] = [];
  for (const line of lines.slice(head)) {
    if (!line.startsWith('|')) break;
    rows.push(line);
  }
  return rows;
}

describe('the lease transitions table', () => {
  it('is the table of the README "Lease states" section, row for row', () => {
    const section = leaseStatesSection();
    expect(tableRows(section, 'from').join('\n')).toBe(transitionsTable());
  });

  it('the README describes every state, in the order of the table', () => {
    const described = tableRows(leaseStatesSection(), 'state')
      .slice(2)
      .map((row) => /^\| `([a-z]+)` \|/.exec(row)?.[1]);
    expect(described).toEqual(Object.keys(LEASE_TRANSITIONS));
  });

  it('ends in revoked or failed only, and every state can reach revoked or is terminal', () => {
    const terminal = (Object.keys(LEASE_TRANSITIONS) as LeaseState[]).filter(
      (s) => LEASE_TRANSITIONS[s].size === 0,
    );
    expect(terminal).toEqual(['revoked', 'failed']);
    for (const state of Object.keys(LEASE_TRANSITIONS) as LeaseState[]) {
      if (!terminal.includes(state)) expect(LEASE_TRANSITIONS[state].has('revoked')).toBe(true);
    }
  });
});

function recordingLogger(lines: string[]) {
  const log = (level: string) => (obj: Record<string, unknown>, msg?: string) =>
    lines.push(`${level} ${msg ?? ''} ${JSON.stringify(obj)}`);
  return { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
}

const snap = (generation: number): LeaseSnapshot<string> =>
  Object.freeze({
    value: 'value',
    leaseId: `database/creds/app/L${generation}`,
    issuedAt: 0,
    expiresAt: 60_000,
    renewable: true,
    generation,
  });

describe('LeaseEventPublisher', () => {
  function publisher() {
    const lines: string[] = [];
    const client: Array<keyof VaultEvents> = [];
    const sink: LeaseEventSink = { emit: (event) => client.push(event) };
    const pub = new LeaseEventPublisher<string>('k', 'database/creds/app', sink, recordingLogger(lines));
    return { pub, lines, client };
  }

  it('logs a disallowed transition at error level and keeps the state, without throwing', () => {
    const { pub, lines } = publisher();
    expect(pub.state).toBe('issuing');
    expect(() => pub.renewed(snap(1), 30_000, false)).not.toThrow();
    expect(pub.state).toBe('issuing');
    expect(() => pub.expired(snap(1))).not.toThrow();
    expect(pub.state).toBe('issuing');
    const refused = lines.filter((l) => l.startsWith('error lease state transition not allowed'));
    expect(refused).toHaveLength(2);
    expect(refused[0]).toContain('"from":"issuing","to":"renewed"');
    expect(refused[1]).toContain('"from":"issuing","to":"expired"');

    pub.issued(snap(1), 60);
    expect(pub.state).toBe('issued');
    pub.closed();
    expect(pub.state).toBe('revoked');
    lines.length = 0;
    pub.rotated(snap(1), snap(2), 'requested', 60, Number.POSITIVE_INFINITY); // terminal: nothing leaves revoked
    pub.expiring(snap(2), 1000, 'max-ttl');
    expect(pub.state).toBe('revoked');
    expect(lines.filter((l) => l.startsWith('error lease state transition not allowed'))).toHaveLength(2);
  });

  it('a failed handle stays failed when it is closed', () => {
    const { pub, lines } = publisher();
    pub.failed(new VaultError(VaultErrorCode.PERMISSION_DENIED, 'permission denied'));
    expect(pub.state).toBe('failed');
    pub.closed();
    expect(pub.state).toBe('failed');
    expect(lines.some((l) => l.includes('not allowed'))).toBe(false);
  });

  it('isolates a throwing handle listener (logged) from the others and from the client mirror', () => {
    const { pub, lines, client } = publisher();
    const seen: number[] = [];
    pub.on('issued', () => {
      throw new Error('listener bug');
    });
    pub.on('issued', ({ current }) => seen.push(current.generation));
    expect(() => pub.issued(snap(1), 60)).not.toThrow();
    expect(seen).toEqual([1]);
    expect(client).toEqual(['lease:issued']);
    expect(lines.some((l) => l.startsWith('error a lease listener threw'))).toBe(true);
  });
});
