import { describe, expect, it } from 'vitest';
import { TypedEmitter } from '../../src/events.js';

interface TestEvents {
  a: { n: number };
  b: { s: string };
}

describe('TypedEmitter', () => {
  it('delivers typed payloads, unsubscribes, and supports once', () => {
    const e = new TypedEmitter<TestEvents>();
    const seen: number[] = [];
    const off = e.on('a', ({ n }) => seen.push(n));
    e.once('a', ({ n }) => seen.push(n * 10));
    e.emit('a', { n: 1 });
    e.emit('a', { n: 2 });
    off();
    e.emit('a', { n: 3 });
    expect(seen).toEqual([1, 10, 2]);
    expect(e.listenerCount('a')).toBe(0);
  });

  it('isolates a throwing listener and reports it', () => {
    const errors: string[] = [];
    const e = new TypedEmitter<TestEvents>((event, error) =>
      errors.push(`${String(event)}:${(error as Error).message}`),
    );
    const seen: string[] = [];
    e.on('b', () => {
      throw new Error('boom');
    });
    e.on('b', ({ s }) => seen.push(s));
    expect(() => e.emit('b', { s: 'x' })).not.toThrow();
    expect(seen).toEqual(['x']);
    expect(errors).toEqual(['b:boom']);
  });

  it('has no special error event that could crash the process', () => {
    const e = new TypedEmitter<{ error: { code: string } }>();
    expect(() => e.emit('error', { code: 'X' })).not.toThrow();
  });
});
