const ignore = (): void => undefined;

/**
 * Runs asynchronous tasks one at a time per key, in call order. A failed task does not stop the next one, and the
 * queue itself never holds a rejected promise (each caller observes its own task's outcome), so nothing goes
 * unhandled. A key's entry is dropped once its queue is empty.
 */
export class KeyedSerialQueue<K> {
  private readonly tails = new Map<K, Promise<void>>();

  run<T>(key: K, task: () => Promise<T>): Promise<T> {
    const result = (this.tails.get(key) ?? Promise.resolve()).then(task);
    const tail = result.then(ignore, ignore);
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }

  /** Settles once every task queued so far has settled. */
  async idle(): Promise<void> {
    await Promise.all(this.tails.values());
  }
}

/**
 * Like {@link KeyedSerialQueue} (one task at a time per key; a failed task does not stop the next; callers see their
 * own outcome), but a task queued as `urgent` runs before every `background` task still waiting for that key (tasks
 * of one priority keep their call order). The database engine queues credential creations (a client waits for
 * them) as urgent and revocations (Vault revokes expired leases in the background) as background, so that a backlog
 * of revocations after an outage does not hold new credentials back.
 */
export class KeyedPrioritySerialQueue<K> {
  private readonly drains = new Set<Promise<void>>();
  private readonly queues = new Map<
    K,
    { running: boolean; urgent: Array<() => Promise<void>>; background: Array<() => Promise<void>> }
  >();

  run<T>(key: K, priority: 'urgent' | 'background', task: () => Promise<T>): Promise<T> {
    let queue = this.queues.get(key);
    if (!queue) {
      queue = { running: false, urgent: [], background: [] };
      this.queues.set(key, queue);
    }
    const result = new Promise<T>((resolve, reject) => {
      queue[priority].push(() => task().then(resolve, reject));
    });
    if (!queue.running) {
      const drained = this.drain(key, queue);
      this.drains.add(drained);
      void drained.then(() => this.drains.delete(drained));
    }
    return result;
  }

  /** Settles once every task queued so far has settled. */
  async idle(): Promise<void> {
    while (this.drains.size > 0) await Promise.all([...this.drains]);
  }

  private async drain(
    key: K,
    queue: { running: boolean; urgent: Array<() => Promise<void>>; background: Array<() => Promise<void>> },
  ): Promise<void> {
    queue.running = true;
    for (;;) {
      const next = queue.urgent.shift() ?? queue.background.shift();
      if (!next) break;
      await next().catch(ignore);
    }
    queue.running = false;
    this.queues.delete(key);
  }
}
