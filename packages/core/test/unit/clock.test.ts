/**
 * The system clock's timers take any delay: Node (and vitest's fake timers, which copy it) fire a timeout after
 * 1 ms when its delay is above 2³¹−1 ms, so long delays are chained.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MAX_TIMER_DELAY_MS, systemClock } from '../../src/clock.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('systemClock timers', () => {
  it('a delay above 2³¹−1 ms fires at its end, not after 1 ms (fake timers, which clamp like Node)', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    let fired = 0;
    const delay = MAX_TIMER_DELAY_MS + 5000;
    systemClock.setTimeout(() => fired++, delay);
    vi.advanceTimersByTime(1);
    expect(fired).toBe(0);
    vi.advanceTimersByTime(MAX_TIMER_DELAY_MS); // the first link ends and re-arms
    expect(fired).toBe(0);
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(delay - MAX_TIMER_DELAY_MS - 2);
    expect(fired).toBe(0);
    vi.advanceTimersByTime(1);
    expect(fired).toBe(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a 1-year delay chains links and fires once', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const year = 365 * 24 * 3_600_000;
    let fired = 0;
    systemClock.setTimeout(() => fired++, year);
    vi.advanceTimersByTime(year - 1);
    expect(fired).toBe(0);
    vi.advanceTimersByTime(1);
    expect(fired).toBe(1);
    vi.advanceTimersByTime(year);
    expect(fired).toBe(1);
  });

  it('clearTimeout cancels the chain, also after a link has re-armed', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    let fired = 0;
    const early = systemClock.setTimeout(() => fired++, MAX_TIMER_DELAY_MS * 3);
    const late = systemClock.setTimeout(() => fired++, MAX_TIMER_DELAY_MS * 3);
    systemClock.clearTimeout(early);
    vi.advanceTimersByTime(MAX_TIMER_DELAY_MS + 10);
    systemClock.clearTimeout(late);
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(MAX_TIMER_DELAY_MS * 3);
    expect(fired).toBe(0);
  });

  it('short, zero, negative and NaN delays fire once on the next turns; Infinity never fires', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const fired: string[] = [];
    systemClock.setTimeout(() => fired.push('10'), 10);
    systemClock.setTimeout(() => fired.push('0'), 0);
    systemClock.setTimeout(() => fired.push('-5'), -5);
    systemClock.setTimeout(() => fired.push('NaN'), Number.NaN);
    const never = systemClock.setTimeout(() => fired.push('Infinity'), Number.POSITIVE_INFINITY);
    vi.advanceTimersByTime(9);
    expect(fired).toEqual(['0', '-5', 'NaN']);
    vi.advanceTimersByTime(1);
    expect(fired).toEqual(['0', '-5', 'NaN', '10']);
    vi.advanceTimersByTime(MAX_TIMER_DELAY_MS * 4);
    expect(fired).toHaveLength(4);
    systemClock.clearTimeout(never);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('with real Node timers a 2³¹ ms timer has not fired after 50 ms, and keeps no process alive', async () => {
    let fired = false;
    const before = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const handle = systemClock.setTimeout(() => {
      fired = true;
    }, 2 ** 31);
    // unref()ed: not counted among the resources that keep the event loop alive
    expect(process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length).toBe(before);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(fired).toBe(false);
    systemClock.clearTimeout(handle);
  });
});
