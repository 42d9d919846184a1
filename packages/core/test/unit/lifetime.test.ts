import { describe, expect, it } from 'vitest';
import { TimerSet } from '../../src/clock.js';
import {
  calculateGrace,
  calculateSleep,
  ExponentialBackoff,
  hasCappedWarning,
  LifetimeSchedule,
  type LifetimeStep,
  spreadRenewal,
  spreadWake,
} from '../../src/index.js';
import { drainDeadline, lifetimeStart } from '../../src/lifetime.js';
import { LifetimeWatcher } from '../../src/lifetime-watcher.js';
import { fixedRandom, flush, ManualClock } from '../helpers/manual-clock.js';

const T0 = 1_700_000_000_000;

describe('calculateGrace', () => {
  it('is uniform in [10 %, 20 %) of the lease', () => {
    expect(calculateGrace(10_000, 0, () => 0)).toBe(1000);
    expect(calculateGrace(10_000, 0, () => 0.5)).toBe(1500);
    expect(calculateGrace(10_000, 0, () => 0.999999)).toBeLessThan(2000);
    expect(calculateGrace(10_000, 0, () => 0.999999)).toBeGreaterThan(1999);
  });

  it('stays within the range for many random draws', () => {
    for (let i = 0; i < 1000; i++) {
      const g = calculateGrace(60_000, 0, Math.random);
      expect(g).toBeGreaterThanOrEqual(6000);
      expect(g).toBeLessThan(12_000);
    }
  });

  it('uses the increment when one was asked and is smaller than the lease', () => {
    expect(calculateGrace(100_000, 10_000, () => 0)).toBe(1000);
    // increment larger than the lease: the lease is the base
    expect(calculateGrace(10_000, 100_000, () => 0)).toBe(1000);
  });

  it('is 0 for a lease without duration', () => {
    expect(calculateGrace(0, 0, () => 0.5)).toBe(0);
    expect(calculateGrace(-5, 0, () => 0.5)).toBe(0);
  });
});

describe('calculateSleep', () => {
  it('is two thirds of the remaining time plus a third of the grace', () => {
    expect(calculateSleep(9000, 900)).toBeCloseTo(6300);
    expect(calculateSleep(3000, 0)).toBeCloseTo(2000);
  });
});

describe('ExponentialBackoff', () => {
  it('grows by the multiplier with jitter inside ±factor and caps the interval', () => {
    const lo = new ExponentialBackoff(
      { initialMs: 1000, multiplier: 2, randomizationFactor: 0.5, maxIntervalMs: 5000, maxElapsedMs: 0 },
      T0,
      () => 0,
    );
    expect([1, 2, 3, 4, 5].map(() => lo.next(T0))).toEqual([500, 1000, 2000, 2500, 2500]);
    const hi = new ExponentialBackoff(
      { initialMs: 1000, multiplier: 2, randomizationFactor: 0.5, maxIntervalMs: 5000, maxElapsedMs: 0 },
      T0,
      () => 0.999999,
    );
    const values = [1, 2, 3, 4].map(() => hi.next(T0) ?? -1);
    expect(values[0]).toBeGreaterThan(1400);
    expect(values[0]).toBeLessThanOrEqual(1500);
    expect(values[3]).toBeLessThanOrEqual(7500);
  });

  it('stops when the elapsed budget would be exceeded, and resets', () => {
    const b = new ExponentialBackoff(
      { initialMs: 1000, multiplier: 2, randomizationFactor: 0, maxIntervalMs: 60_000, maxElapsedMs: 5000 },
      T0,
      () => 0.5,
    );
    expect(b.next(T0)).toBe(1000);
    expect(b.next(T0 + 1000)).toBe(2000);
    expect(b.next(T0 + 3000)).toBeUndefined(); // 3000 + 4000 > 5000
    b.reset(T0 + 10_000);
    expect(b.attempt).toBe(0);
    expect(b.next(T0 + 10_000)).toBe(1000);
  });
});

/** Drives a schedule like the Go watcher against a server that grants `ttlFor(now)` on each renewal. */
function simulate(
  schedule: LifetimeSchedule,
  renew: (now: number) => { ttlMs: number; capped?: boolean },
  maxSteps = 100,
): { renewals: number[]; end: Extract<LifetimeStep, { type: 'expiring' }> & { at: number } } {
  let now = T0;
  let step = schedule.start();
  const renewals: number[] = [];
  for (let i = 0; i < maxSteps; i++) {
    if (step.type === 'expiring') return { renewals, end: { ...step, at: now } };
    now += step.delayMs;
    if (step.type === 'renew') {
      renewals.push(now);
      const r = renew(now);
      step = schedule.renewed(r.ttlMs, now, { capped: r.capped ?? false });
    } else {
      step = schedule.check(now);
    }
  }
  throw new Error('schedule did not end');
}

describe('LifetimeSchedule', () => {
  it('renews at ⅔ of the remaining time plus ⅓ grace, starting from the issue (no immediate renewal)', () => {
    const s = new LifetimeSchedule({ leaseDurationMs: 30_000, renewable: true, now: T0, random: () => 0 });
    expect(s.graceMs).toBe(3000);
    const first = s.start();
    expect(first).toEqual({ type: 'renew', delayMs: 21_000 }); // 20000 + 1000
    const second = s.renewed(30_000, T0 + 21_000);
    expect(second).toEqual({ type: 'renew', delayMs: 21_000 });
  });

  it('counts a lifetime from when its request was sent, not from the answer (a slow answer shortens it)', () => {
    // Issued by a request sent at T0 − 900 whose answer arrived at T0: Vault's 30 s started no earlier than the send.
    const s = new LifetimeSchedule({
      leaseDurationMs: 30_000,
      renewable: true,
      now: T0,
      requestedAt: T0 - 900,
      random: () => 0,
    });
    expect(s.expiresAt).toBe(T0 - 900 + 30_000);
    // ⅔ of the 29.1 s left + ⅓ of the 3 s grace.
    expect(s.start()).toEqual({ type: 'renew', delayMs: 19_400 + 1000 });
    // A renewal sent at T1 − 500 and answered at T1: the new 30 s count from T1 − 500; 29.5 s are left, which is more
    // than before, so the grace is drawn again from it (10 % of 29.5 s).
    const t1 = T0 + 20_400;
    expect(s.renewed(30_000, t1, { requestedAt: t1 - 500 })).toEqual({
      type: 'renew',
      delayMs: Math.round((2 / 3) * 29_500 + (1 / 3) * 2950),
    });
    expect(s.expiresAt).toBe(t1 - 500 + 30_000);
    // A send time after the answer is impossible: it is taken as the answer's time.
    const late = new LifetimeSchedule({
      leaseDurationMs: 30_000,
      renewable: true,
      now: T0,
      requestedAt: T0 + 5,
      random: () => 0,
    });
    expect(late.expiresAt).toBe(T0 + 30_000);
  });

  it('keeps renewing forever while the server grants the full lease', () => {
    const s = new LifetimeSchedule({ leaseDurationMs: 10_000, renewable: true, now: T0, random: () => 0.5 });
    let step = s.start();
    let now = T0;
    for (let i = 0; i < 50; i++) {
      expect(step.type).toBe('renew');
      if (step.type !== 'renew') break;
      now += step.delayMs;
      step = s.renewed(10_000, now);
    }
  });

  it('detects max TTL from a lease that stops growing (Go heuristic) and ends before expiry', () => {
    // token_ttl 2 s, token_max_ttl 6 s, renewals not flagged as capped: only the shrinking TTL tells.
    const maxEnd = T0 + 6000;
    const s = new LifetimeSchedule({ leaseDurationMs: 2000, renewable: true, now: T0, random: () => 0.5 });
    const { renewals, end } = simulate(s, (now) => ({ ttlMs: Math.min(2000, maxEnd - now) }));
    expect(end.type).toBe('expiring');
    expect(end.at).toBeLessThan(maxEnd);
    expect(end.remainingMs).toBeGreaterThan(0);
    expect(renewals.every((t) => t < maxEnd)).toBe(true);
    if (end.type === 'expiring') expect(end.reason).toBe('max-ttl');
  });

  it('stops renewing after a capped renewal and ends within the grace window', () => {
    const s = new LifetimeSchedule({ leaseDurationMs: 10_000, renewable: true, now: T0, random: () => 0 });
    const grace = s.graceMs; // 1000
    const step = s.renewed(9000, T0 + 5000, { capped: true });
    expect(step.type).toBe('check'); // no more renewals
    let now = T0 + 5000;
    let current: LifetimeStep = step;
    let calls = 0;
    while (current.type === 'check') {
      now += current.delayMs;
      current = s.check(now);
      calls++;
    }
    expect(current.type).toBe('expiring');
    if (current.type === 'expiring') {
      expect(current.reason).toBe('max-ttl');
      expect(current.remainingMs).toBeGreaterThan(0);
      // Ends when remaining − sleep ≤ grace, i.e. remaining ≤ 4·grace
      expect(current.remainingMs).toBeLessThanOrEqual(4 * grace);
    }
    expect(calls).toBeGreaterThan(0);
    expect(now).toBeLessThan(T0 + 5000 + 9000);
  });

  it('watches a non-renewable lease without renewing and ends before it expires', () => {
    const s = new LifetimeSchedule({ leaseDurationMs: 60_000, renewable: false, now: T0, random: () => 0.5 });
    const { renewals, end } = simulate(s, () => {
      throw new Error('must not renew');
    });
    expect(renewals).toEqual([]);
    expect(end.type).toBe('expiring');
    if (end.type === 'expiring') expect(end.reason).toBe('not-renewable');
    expect(end.at).toBeLessThan(T0 + 60_000);
    expect(end.remainingMs).toBeGreaterThan(s.graceMs);
  });

  it('recomputes grace only while the lease grows', () => {
    const s = new LifetimeSchedule({ leaseDurationMs: 10_000, renewable: true, now: T0, random: () => 0 });
    expect(s.graceMs).toBe(1000);
    s.renewed(20_000, T0 + 7000);
    expect(s.graceMs).toBe(2000);
    s.renewed(15_000, T0 + 20_000);
    expect(s.graceMs).toBe(2000);
  });

  it('backs off after a failed renewal (10 s, ×2, ±50 %) while outside the grace window, then ends', () => {
    const s = new LifetimeSchedule({ leaseDurationMs: 600_000, renewable: true, now: T0, random: () => 0.5 });
    expect(s.graceMs).toBe(90_000);
    let step = s.start();
    expect(step).toEqual({ type: 'renew', delayMs: 430_000 });
    let now = T0 + 430_000; // 170 s left
    const delays: number[] = [];
    for (;;) {
      step = s.renewFailed(now);
      if (step.type !== 'renew') break;
      delays.push(step.delayMs);
      now += step.delayMs;
    }
    expect(delays).toEqual([10_000, 20_000, 40_000]);
    expect(step.type).toBe('expiring');
    if (step.type === 'expiring') {
      expect(step.reason).toBe('renew-failed');
      expect(step.remainingMs).toBe(100_000); // still valid: the caller re-logs in on borrowed time
    }
  });

  it('backoff intervals are jittered within ±50 %', () => {
    for (const r of [0, 0.25, 0.75, 0.999]) {
      const s = new LifetimeSchedule({
        leaseDurationMs: 3_600_000,
        renewable: true,
        now: T0,
        random: () => r,
      });
      s.start();
      const step = s.renewFailed(T0 + 60_000);
      if (step.type !== 'renew') throw new Error('expected a retry');
      expect(step.delayMs).toBeGreaterThanOrEqual(5000);
      expect(step.delayMs).toBeLessThanOrEqual(15_000);
    }
  });

  it('a successful renewal after failures clears the backoff', () => {
    const s = new LifetimeSchedule({ leaseDurationMs: 120_000, renewable: true, now: T0, random: () => 0.5 });
    s.start();
    expect(s.renewFailed(T0 + 80_000)).toEqual({ type: 'renew', delayMs: 10_000 });
    const step = s.renewed(120_000, T0 + 90_000);
    expect(step.type).toBe('renew');
    if (step.type === 'renew') expect(step.delayMs).toBe(Math.round(calculateSleep(120_000, s.graceMs)));
  });

  it('permission denied on renew switches to watching until expiry', () => {
    const s = new LifetimeSchedule({ leaseDurationMs: 60_000, renewable: true, now: T0, random: () => 0.5 });
    s.start();
    const step = s.renewFailed(T0 + 10_000, { permissionDenied: true });
    expect(step.type).toBe('check');
    expect(s.renewable).toBe(false);
  });

  it('uses the injected randomness for the whole fleet spread', () => {
    const a = new LifetimeSchedule({
      leaseDurationMs: 60_000,
      renewable: true,
      now: T0,
      random: fixedRandom(0),
    });
    const b = new LifetimeSchedule({
      leaseDurationMs: 60_000,
      renewable: true,
      now: T0,
      random: fixedRandom(0.99),
    });
    const sa = a.start();
    const sb = b.start();
    if (sa.type !== 'renew' || sb.type !== 'renew') throw new Error('expected renew');
    expect(sb.delayMs - sa.delayMs).toBeGreaterThan(1900); // (12 s − 6 s)/3 ≈ 2 s apart
  });
});

describe('hasCappedWarning', () => {
  it("matches Vault's capped-TTL warning", () => {
    expect(
      hasCappedWarning([
        'TTL of "1h" exceeded the effective max_ttl of "30m"; TTL value is capped accordingly',
      ]),
    ).toBe(true);
    expect(hasCappedWarning(null)).toBe(false);
    expect(hasCappedWarning(['something else'])).toBe(false);
  });
});

describe('spreadRenewal', () => {
  it('is uniform in [½·d, d]: never later than the schedule', () => {
    expect(spreadRenewal(20_000, () => 0)).toBe(20_000);
    expect(spreadRenewal(20_000, () => 0.5)).toBe(15_000);
    expect(spreadRenewal(20_000, () => 0.999999)).toBe(10_000);
    expect(spreadRenewal(0, () => 0.5)).toBe(0);
    expect(spreadRenewal(Number.POSITIVE_INFINITY, () => 0.5)).toBe(Number.POSITIVE_INFINITY);
    for (let i = 0; i < 1000; i++) {
      const d = spreadRenewal(14_000, Math.random);
      expect(d).toBeGreaterThanOrEqual(7000);
      expect(d).toBeLessThanOrEqual(14_000);
    }
  });

  it('the watcher sends each renewal at its spread instant (exact instants on the injected clock)', async () => {
    const clock = new ManualClock();
    const t0 = clock.now();
    // Draws: the grace (0.5 → 15 % of 30 s = 4.5 s), then one per renewal: 0, 0.5, 1 − 1e-9.
    const random = fixedRandom(0.5, 0, 0.5, 1 - 1e-9);
    const schedule = new LifetimeSchedule({ leaseDurationMs: 30_000, renewable: true, now: t0, random });
    const renewedAt: number[] = [];
    const watcher = new LifetimeWatcher(
      schedule,
      {
        renew: async () => ({ ttlMs: 30_000, capped: false, renewable: true }),
        live: () => true,
        renewed: (_outcome, now) => renewedAt.push(now - t0),
        failed: () => 'retry',
        renewFailed: () => undefined,
        ending: () => undefined,
      },
      { timers: new TimerSet(clock), now: () => clock.now(), random },
    );
    watcher.start();
    // Go's schedule renews every ⅔·30 + ⅓·4.5 = 21.5 s; spread: 21.5·(1 − 0.5·r) for r = 0, 0.5, 1.
    for (let i = 0; i < 60; i++) {
      await clock.advance(1000);
      await flush();
    }
    expect(renewedAt).toEqual([21_500, 21_500 + 16_125, 21_500 + 16_125 + 10_750]);
    watcher.stop();
    expect(clock.pendingCount).toBe(0);
  });
});

describe('LifetimeWatcher and slow answers', () => {
  it('a renewal answered 700 ms after it was sent counts its TTL from the send (exact instants)', async () => {
    const clock = new ManualClock();
    const t0 = clock.now();
    const schedule = new LifetimeSchedule({
      leaseDurationMs: 30_000,
      renewable: true,
      now: t0,
      random: () => 0,
    });
    const reported: Array<{ from: number; ttlMs: number }> = [];
    const watcher = new LifetimeWatcher(
      schedule,
      {
        // Vault answers 700 ms after the request is sent.
        renew: () =>
          new Promise((resolve) => {
            clock.setTimeout(() => resolve({ ttlMs: 30_000, capped: false, renewable: true }), 700);
          }),
        live: () => true,
        renewed: (outcome, from) => reported.push({ from: from - t0, ttlMs: outcome.ttlMs }),
        failed: () => 'retry',
        renewFailed: () => undefined,
        ending: () => undefined,
      },
      { timers: new TimerSet(clock), now: () => clock.now() },
    );
    watcher.start();
    // The first renewal is sent at ⅔·30 s + ⅓·3 s = 21 s and answered at 21.7 s.
    await clock.advance(21_000 + 700);
    await flush();
    expect(reported).toEqual([{ from: 21_000, ttlMs: 30_000 }]);
    expect(schedule.expiresAt - t0).toBe(21_000 + 30_000);
    watcher.stop();
    expect(clock.pendingCount).toBe(0);
  });
});

describe('spreadWake', () => {
  it('is uniform in [⅓, ⅔] of the time left, at most [5 s, 10 s]; 0 once the credential ended', () => {
    // ⅔ of 60 s is over the 10 s cap: uniform in [5 s, 10 s] (random 0 is the latest, as for a steady renewal).
    expect(spreadWake(60_000, () => 0.5)).toBe(7500);
    expect(spreadWake(60_000, () => 0.999999)).toBe(5000);
    expect(spreadWake(60_000, () => 0)).toBe(10_000);
    // 9 s left: uniform in [3 s, 6 s].
    expect(spreadWake(9000, () => 0.5)).toBe(4500);
    expect(spreadWake(9000, () => 0.999999)).toBe(3000);
    expect(spreadWake(9000, () => 0)).toBe(6000);
    expect(spreadWake(0, () => 0.5)).toBe(0);
    expect(spreadWake(-5, () => 0.5)).toBe(0);
    expect(spreadWake(9000, () => 0.5, 'renew')).toBe(4500);
  });

  it('replace: uniform in the first third of the time left, at most 10 s; 0 once the credential ended', () => {
    // 3 s left (a lease past its rotation margin when Vault returns): within the first second, two left for the
    // re-issue.
    expect(spreadWake(3000, () => 0.5, 'replace')).toBe(500);
    expect(spreadWake(3000, () => 0, 'replace')).toBe(0);
    expect(spreadWake(3000, () => 0.999999, 'replace')).toBe(1000);
    // A third of 60 s is over the 10 s cap: uniform in [0, 10 s].
    expect(spreadWake(60_000, () => 0.5, 'replace')).toBe(5000);
    expect(spreadWake(60_000, () => 0.999999, 'replace')).toBe(10_000);
    expect(spreadWake(0, () => 0.5, 'replace')).toBe(0);
    expect(spreadWake(-5, () => 0.5, 'replace')).toBe(0);
    expect(spreadWake(Number.NaN, () => 0.5, 'replace')).toBe(0);
  });
});

describe('lifetimeStart', () => {
  it("is the request's send time, never later than the answer; the answer's time without one", () => {
    expect(lifetimeStart(T0, T0 + 800)).toBe(T0);
    expect(lifetimeStart(T0 + 900, T0 + 800)).toBe(T0 + 800); // the clock stepped back during the request
    expect(lifetimeStart(undefined, T0 + 800)).toBe(T0 + 800);
  });
});

describe('drainDeadline', () => {
  it('is the drain timeout after the rotation or the given end, whichever comes first; never before now', () => {
    expect(drainDeadline(T0 + 10_000, 400, T0)).toBe(T0 + 400);
    expect(drainDeadline(T0 + 10_000, undefined, T0)).toBe(T0 + 10_000);
    expect(drainDeadline(T0 + 10_000, 60_000, T0)).toBe(T0 + 10_000);
    expect(drainDeadline(T0 + 10_000, 0, T0)).toBe(T0);
    expect(drainDeadline(T0 - 5, undefined, T0)).toBe(T0); // already past its end: at once
    expect(drainDeadline(Number.POSITIVE_INFINITY, undefined, T0)).toBe(Number.POSITIVE_INFINITY);
  });
});
