import { CoalescedRuns } from './coalesced-runs';

describe(CoalescedRuns.name, () => {
  it('runs once at a time, and once more for all the calls made meanwhile', async () => {
    let runs = 0;
    const gates: Array<() => void> = [];
    const task = new CoalescedRuns(async () => {
      runs++;
      await new Promise<void>((resolve) => gates.push(resolve));
    });
    const first = task.run();
    const later = [task.run(), task.run(), task.run()];
    expect(runs).toBe(1);
    gates.shift()!();
    await first;
    await new Promise((resolve) => setImmediate(resolve));
    expect(runs).toBe(2);
    gates.shift()!();
    await Promise.all(later);
    expect(runs).toBe(2);
  });

  it('runs again after a failed run', async () => {
    let runs = 0;
    const task = new CoalescedRuns(async () => {
      if (++runs === 1) throw new Error('first fails');
    });
    await expect(task.run()).rejects.toThrow('first fails');
    await expect(task.run()).resolves.toBeUndefined();
    expect(runs).toBe(2);
  });
});
