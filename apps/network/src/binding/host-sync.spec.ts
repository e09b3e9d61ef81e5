import { HostSync } from './host-sync';

/** Agents that answer when released; the database has no ports (every state is empty). */
function fakes() {
  const calls: string[] = [];
  const waiting: Array<() => void> = [];
  const db = { query: async () => [] };
  const agents = {
    async call(subject: string) {
      calls.push(subject);
      await new Promise<void>((resolve) => waiting.push(resolve));
      return { linkOps: calls.length, refusedNetworks: [], blockedPorts: [] };
    },
  };
  const release = async () => {
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    waiting.shift()?.();
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
  };
  return { calls, release, sync: new HostSync(db, agents as never) };
}

describe(HostSync.name, () => {
  it('runs one push per host at a time, and the pushes asked for meanwhile as one more after it', async () => {
    const { calls, release, sync } = fakes();
    const first = sync.push('h1');
    await new Promise((resolve) => setImmediate(resolve)); // the first push is at the agent now
    expect(calls).toHaveLength(1);
    const later = [sync.push('h1'), sync.push('h1'), sync.push('h1')];
    await release();
    await expect(first).resolves.toMatchObject({ linkOps: 1 });
    await release();
    const replies = await Promise.all(later);
    expect(replies.map((r) => r.linkOps)).toEqual([2, 2, 2]);
    expect(calls).toEqual(['agent.h1.network.sync', 'agent.h1.network.sync']);
  });

  it('pushes different hosts at once', async () => {
    const { calls, release, sync } = fakes();
    const both = Promise.all([sync.push('h1'), sync.push('h2')]);
    await release();
    await release();
    await both;
    expect(calls.sort()).toEqual(['agent.h1.network.sync', 'agent.h2.network.sync']);
  });
});
