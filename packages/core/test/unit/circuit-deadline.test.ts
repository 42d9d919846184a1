/**
 * The circuit breaker's probe schedule against the deadlines of what the client holds: exact instants on a manual
 * clock (no jitter: the random source is fixed at 0.5, the middle of the jitter range).
 */
import { describe, expect, it } from 'vitest';
import { TypedEmitter, type VaultEvents } from '../../src/events.js';
import { silentLogger } from '../../src/logger.js';
import { CircuitBreaker, URGENT_PROBE_FLOOR_MS } from '../../src/transport/circuit.js';
import { ManualClock } from '../helpers/manual-clock.js';

function breaker(clock: ManualClock, vaultBackAt: number) {
  const events = new TypedEmitter<VaultEvents>();
  const circuit = new CircuitBreaker(
    { failureThreshold: 1, probeIntervalMs: 1000, maxProbeIntervalMs: 30_000 },
    { clock, random: () => 0.5, events, logger: silentLogger },
  );
  const probes: number[] = [];
  circuit.setProbe(async () => {
    probes.push(clock.now() - start);
    if (clock.now() < start + vaultBackAt) throw new Error('connect ECONNREFUSED');
    return { sealed: false };
  });
  let closedAt: number | undefined;
  events.on('circuit:close', () => {
    closedAt = clock.now() - start;
  });
  const start = clock.now();
  return { circuit, probes, closedAt: () => closedAt, start };
}

describe('probe schedule and deadlines', () => {
  it('without a deadline: the backoff alone (1 s, 2 s, 4 s, 8 s, 16 s) — a Vault back at 15.1 s is seen at 31 s', async () => {
    const clock = new ManualClock();
    const b = breaker(clock, 15_100);
    b.circuit.recordFailure();
    await clock.advance(40_000);
    expect(b.probes).toEqual([1000, 3000, 7000, 15_000, 31_000]);
    expect(b.closedAt()).toBe(31_000);
    b.circuit.close();
  });

  it('with a lease ending at 18 s: no probe waits more than a quarter of the time left — Vault back at 15.1 s is seen at 15.331 s, before the end', async () => {
    const clock = new ManualClock();
    const b = breaker(clock, 15_100);
    b.circuit.setDeadlineSource(() => b.start + 18_000);
    b.circuit.recordFailure();
    await clock.advance(40_000);
    // 1000, then min(backoff, round(left / 4)): 2000, 3750, 2813, 2109, 1582, 1187, 890.
    expect(b.probes).toEqual([1000, 3000, 6750, 9563, 11_672, 13_254, 14_441, 15_331]);
    expect(b.closedAt()).toBe(15_331);
    expect(b.closedAt()).toBeLessThan(18_000);
    b.circuit.close();
  });

  it('probes at most every 250 ms however close the end, and at the first interval once it has passed', async () => {
    const clock = new ManualClock();
    const b = breaker(clock, Number.POSITIVE_INFINITY);
    b.circuit.setDeadlineSource(() => b.start + 1200);
    b.circuit.recordFailure();
    await clock.advance(4000);
    // round(1200/4)=300, then left 900 → 250 (floor), left 650 → 250, left 400 → 250, left 150 → 250, then
    // passed: 1000.
    expect(b.probes).toEqual([300, 550, 800, 1050, 1300, 2300, 3300]);
    for (let i = 1; i < b.probes.length; i++) {
      expect((b.probes[i] ?? 0) - (b.probes[i - 1] ?? 0)).toBeGreaterThanOrEqual(URGENT_PROBE_FLOOR_MS);
    }
    b.circuit.close();
    expect(clock.pendingCount).toBe(0);
  });

  it('probeNow(): probes at once, shares a probe under way, never more often than every 250 ms, then reschedules', async () => {
    const clock = new ManualClock();
    const b = breaker(clock, 10_000);
    b.circuit.recordFailure();
    await clock.advance(500);
    expect(b.probes).toEqual([]);
    await Promise.all([b.circuit.probeNow(), b.circuit.probeNow()]);
    expect(b.probes).toEqual([500]);
    await clock.advance(100);
    await b.circuit.probeNow();
    expect(b.probes).toEqual([500]);
    await clock.advance(150);
    await b.circuit.probeNow();
    expect(b.probes).toEqual([500, 750]);
    // Each probe counts as one of the schedule's: the next comes one backoff interval after the last (the
    // scheduled 1 s was replaced by the probe at 500 ms, the 2 s by the one at 750 ms; 4 s follow, then 8 s).
    await clock.advance(10_000);
    expect(b.probes).toEqual([500, 750, 4750]);
    expect(b.circuit.state.open).toBe(true);
    await clock.advance(10_000);
    expect(b.probes).toEqual([500, 750, 4750, 12_750]);
    expect(b.closedAt()).toBe(12_750);
    expect(b.circuit.state.open).toBe(false);
    // Closed: a no-op.
    await b.circuit.probeNow();
    expect(b.probes.at(-1)).toBe(b.closedAt());
    b.circuit.close();
  });
});
