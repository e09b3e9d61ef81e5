/**
 * Runs tasks one at a time per key, in arrival order; different keys run concurrently. The agent
 * keys by server id so that a replayed spawn and a destroy of one server never interleave.
 */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<void>>();

  async run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const done = new Promise<void>((resolve) => (release = resolve));
    // Tails only ever resolve, so a failed task never poisons the ones queued behind it.
    const tail = previous.then(() => done);
    this.tails.set(key, tail);
    try {
      await previous;
      return await task();
    } finally {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }

  /** Keys with a task running or queued (for tests and health). */
  get size(): number {
    return this.tails.size;
  }
}
