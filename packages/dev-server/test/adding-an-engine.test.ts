/**
 * The README's "Adding an engine" walk-through, kept true: its code is test/fixtures/counter-engine.ts (the README
 * must show that file verbatim), mounted in a real server and driven over HTTP.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevServer, startDevServer } from '../src/index.js';
import { counterEngine } from './fixtures/counter-engine.js';
import { call } from './helpers.js';

let server: DevServer;

beforeAll(async () => {
  server = await startDevServer({ secretEngines: { counter: counterEngine } });
  await server.mount('counter', 'counter');
});
afterAll(async () => {
  await server.close();
});

describe('Adding an engine (README walk-through)', () => {
  it('the README shows the fixture engine verbatim', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const fixture = readFileSync(new URL('./fixtures/counter-engine.ts', import.meta.url), 'utf8').replace(
      "from '../../src/index.js'",
      "from '@leasehold/dev-server'",
    );
    expect(readme).toContain(`\`\`\`ts\n${fixture}\`\`\``);
  });

  it('routes, parses fields with their defaults, and answers like any Vault engine', async () => {
    expect((await call(server, 'POST', 'counter/counters/visits', { body: { start: '10' } })).status).toBe(
      204,
    );
    const read = await call(server, 'GET', 'counter/counters/visits');
    expect(read.status).toBe(200);
    expect(read.body.data).toEqual({ value: 10, step: 1 });
    expect(read.body.mount_type).toBe('counter');

    const list = await call(server, 'LIST', 'counter/counters');
    expect(list.body.data.keys).toEqual(['visits']);

    const badStep = await call(server, 'POST', 'counter/counters/visits', { body: { step: 0 } });
    expect(badStep.status).toBe(400);
    expect(badStep.body.errors).toEqual(['step must be positive']);
    const badType = await call(server, 'POST', 'counter/counters/visits', { body: { step: 'many' } });
    expect(badType.status).toBe(400);
    expect(badType.body.errors[0]).toBe(
      `Field validation failed: error converting input many for field "step": cannot parse '' as int: strconv.ParseInt: parsing "many": invalid syntax`,
    );

    expect((await call(server, 'GET', 'counter/counters/none')).status).toBe(404);
    expect((await call(server, 'GET', 'counter/nowhere')).body.errors).toEqual(['unsupported path']);
    expect((await call(server, 'DELETE', 'counter/outstanding')).status).toBe(405);
  });

  it('issues leased tickets: the server registers the lease and revocation reaches the engine', async () => {
    await call(server, 'POST', 'counter/counters/tickets', { body: { start: 0, step: 5 } });
    const ticket = await call(server, 'POST', 'counter/counters/tickets/ticket', { body: { ttl: '10m' } });
    expect(ticket.status).toBe(200);
    expect(ticket.body.data).toEqual({ ticket: 'tickets-5', outstanding: 1 });
    expect(ticket.body.lease_duration).toBe(600);
    expect(ticket.body.renewable).toBe(true);
    expect(ticket.body.lease_id).toMatch(/^counter\/counters\/tickets\/ticket\/[0-9A-Za-z]{24}$/);
    expect((await call(server, 'GET', 'counter/outstanding')).body.data.tickets).toEqual(['tickets-5']);

    const revoke = await call(server, 'PUT', 'sys/leases/revoke', {
      body: { lease_id: ticket.body.lease_id },
    });
    expect(revoke.status).toBe(204);
    expect((await call(server, 'GET', 'counter/outstanding')).body.data.tickets).toEqual([]);
  });
});
