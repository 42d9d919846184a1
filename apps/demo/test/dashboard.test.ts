/**
 * End to end, through a real browser: the demo (embedded dev server, the test PostgreSQL, the Fastify notes example
 * under load) and its dashboard in Chromium (Debian's `chromium` package, driven by playwright-core). Waits for a
 * rotation, clicks "Revoke lease now", and checks the dashboard shows the recovery with no failed request (at most
 * the requests in flight at that instant). Saves a screenshot to `apps/demo/artifacts/`.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type {} from '@leasehold/test-env/global-setup';
import { type BrowserContext, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type Demo, startDemo } from '../src/demo.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = fileURLToPath(new URL('../artifacts/', import.meta.url));
/** The load driver's concurrency: at most this many requests can be in flight when the lease is revoked. */
const IN_FLIGHT = 6;
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env.CI) {
  throw new Error(
    `Chromium not found at ${CHROMIUM}: .ci/run installs Debian's chromium package (apt-get install chromium)`,
  );
}

describe.skipIf(!haveChromium)('demo dashboard in a browser', () => {
  let demo: Demo;
  let browser: BrowserContext;
  let profile: string;

  beforeAll(async () => {
    demo = await startDemo({ port: 0, databaseUrl: inject('pgSuperuserUrl'), rps: 30 });
    profile = mkdtempSync(join(tmpdir(), 'leasehold-chromium-'));
    // A fresh profile (--user-data-dir) per run.
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1440, height: 1000 },
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  });

  afterAll(async () => {
    await browser?.close();
    const final = await demo?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    // Shutting down revoked the database lease.
    expect(final?.leasesRevokedOnClose).toBeGreaterThanOrEqual(1);
  });

  it('shows a rotation, then recovers from a revoked lease with no failed requests', async () => {
    const page = await browser.newPage();
    await page.goto(demo.url);
    await expect
      .poll(() => page.locator('#vault-status').textContent(), { timeout: 15_000 })
      .toBe('Vault ready');

    // A rotation happens under load (8 s leases, 24 s max TTL).
    await page.waitForFunction("Number(document.querySelector('#rotations')?.textContent) >= 1", undefined, {
      timeout: 60_000,
    });
    // Traffic went on across it: a state to wait for (a loaded machine sends fewer of the 30 requests a second), not
    // a count of what fits before the first rotation.
    await expect.poll(() => demo.status().requests, { timeout: 60_000 }).toBeGreaterThan(100);
    const before = demo.status();
    expect(before.rotations).toBeGreaterThanOrEqual(1);
    expect(before.failedRequests).toBe(0);
    const generation = before.leases.find((l) => l.path === 'database/creds/notes-rw')?.generation ?? 0;
    expect(generation).toBeGreaterThanOrEqual(2);
    await expect
      .poll(() => page.locator('[data-testid=lease-generation]').first().textContent())
      .toMatch(/gen \d+/);

    // The drill: revoke the database lease out of band.
    await page.click('#drill-revoke-lease');
    const recovery = page.locator('[data-testid=recovery]');
    await expect
      .poll(() => recovery.getAttribute('data-state'), { timeout: 5_000 })
      .toMatch(/recovering|recovered/);
    await page.waitForSelector('[data-testid=recovery][data-state=recovered]', { timeout: 30_000 });
    expect(await recovery.textContent()).toMatch(/Recovered in [\d.]+ s: new database credentials/);

    const after = demo.status();
    const lease = after.leases.find((l) => l.path === 'database/creds/notes-rw');
    expect(lease?.generation).toBeGreaterThan(generation);
    expect(after.failedRequests).toBeLessThanOrEqual(IN_FLIGHT);
    expect(after.requests).toBeGreaterThan(before.requests);
    // The page shows the same counter the server has.
    expect(Number(await page.locator('[data-testid=failed]').textContent())).toBeLessThanOrEqual(IN_FLIGHT);

    // The JSON the dashboard is built on.
    const res = await fetch(`${demo.url}api/status`);
    const status = (await res.json()) as Record<string, unknown>;
    expect(status).toMatchObject({
      requests: expect.any(Number),
      failedRequests: expect.any(Number),
      rotations: expect.any(Number),
      leases: [expect.objectContaining({ path: 'database/creds/notes-rw', leaseId: expect.any(String) })],
    });
    expect(JSON.stringify(status)).not.toMatch(/password|secret_id|hvs\./i);

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.waitForTimeout(1500); // a few more points on the charts
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard.png'), fullPage: true });
    await page.close();
  });
});
