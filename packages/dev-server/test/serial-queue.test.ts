import { describe, expect, it } from 'vitest';
import { KeyedPrioritySerialQueue } from '../src/util/serial.js';

describe('KeyedPrioritySerialQueue', () => {
  it('runs one task at a time per key; urgent tasks go before waiting background ones; failures stay isolated', async () => {
    const queue = new KeyedPrioritySerialQueue<string>();
    const order: string[] = [];
    let running = 0;
    let most = 0;
    const task =
      (name: string, fail = false) =>
      async () => {
        running++;
        most = Math.max(most, running);
        await new Promise((resolve) => setImmediate(resolve));
        order.push(name);
        running--;
        if (fail) throw new Error(`${name} failed`);
        return name;
      };
    const results = [
      queue.run('db', 'background', task('revoke-1')), // starts at once
      queue.run('db', 'background', task('revoke-2', true)),
      queue.run('db', 'urgent', task('create-1')),
      queue.run('db', 'background', task('revoke-3')),
      queue.run('db', 'urgent', task('create-2')),
      queue.run('other', 'background', task('other-1')),
    ];
    const settled = await Promise.allSettled(results);
    await queue.idle();
    const db = order.filter((name) => !name.startsWith('other'));
    expect(db).toEqual(['revoke-1', 'create-1', 'create-2', 'revoke-2', 'revoke-3']);
    expect(settled.map((r) => r.status)).toEqual([
      'fulfilled',
      'rejected',
      'fulfilled',
      'fulfilled',
      'fulfilled',
      'fulfilled',
    ]);
    expect(most).toBe(2); // one per key: 'db' and 'other' ran side by side
  });
});
