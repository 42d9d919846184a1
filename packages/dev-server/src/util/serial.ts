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
