import { Pool } from 'pg';
import { ClaimBatcher } from './claim-batcher';
import { ClaimRow, ServerClaim } from './server-claims';

/** A pool whose claim statements wait until released, recording the servers and hosts of each. */
function fakePool(fail?: { code?: string; message: string }) {
  const statements: Array<{ servers: string[]; hosts: string[] }> = [];
  const waiting: Array<() => void> = [];
  const pool = {
    async query(config: { values: [string] }): Promise<{ rows: ClaimRow[] }> {
      const batch: Array<{ server_id: string; host_id: string }> = JSON.parse(config.values[0]);
      const [servers, hosts] = [batch.map((c) => c.server_id), batch.map((c) => c.host_id)];
      statements.push({ servers, hosts });
      await new Promise<void>((resolve) => waiting.push(resolve));
      if (fail) throw Object.assign(new Error(fail.message), { code: fail.code });
      return {
        rows: servers.map((server_id, i) => ({
          server_id, schedulable: 1, grouped: false, stale: false, generation: String(i + 1), used_vcpus: 1, used_ram_mb: 1, used_disk_gb: 1, instances: 1,
        })),
      };
    },
  };
  const releaseAll = async () => {
    await new Promise((resolve) => setImmediate(resolve));
    while (waiting.length) waiting.shift()!();
    await new Promise((resolve) => setImmediate(resolve));
  };
  return { pool: pool as unknown as Pool, statements, releaseAll };
}

const claim = (serverId: string, hostId: string): ServerClaim => ({
  serverId, hostId, vcpus: 1, ramMb: 1, diskGb: 1, attempt: 1, explanation: { filters: [], weighed: [], chosen: hostId }, ungroupedOnly: true, metadataVersion: '1',
});

describe(ClaimBatcher.name, () => {
  it('sends the first claim at once and the ones decided meanwhile together, one per host, in order', async () => {
    const { pool, statements, releaseAll } = fakePool();
    const batcher = new ClaimBatcher(pool, { maxBatch: 3, maxInFlight: 1 });
    const first = batcher.claim(claim('s1', 'h1'));
    await new Promise((resolve) => setImmediate(resolve));
    const rest = ['s2:h1', 's3:h2', 's4:h1', 's5:h3', 's6:h4'].map((x) => batcher.claim(claim(x.split(':')[0], x.split(':')[1])));
    for (let i = 0; i < 4; i++) await releaseAll();
    const rows = await Promise.all([first, ...rest]);
    expect(rows.map((r) => r.server_id)).toEqual(['s1', 's2', 's3', 's4', 's5', 's6']);
    expect(statements.map((s) => s.servers)).toEqual([['s1'], ['s2', 's3', 's5'], ['s4', 's6']]);
    expect([batcher.statements, batcher.claims]).toEqual([3, 6]);
  });

  it('runs up to maxInFlight statements at once', async () => {
    const { pool, statements, releaseAll } = fakePool();
    const batcher = new ClaimBatcher(pool, { maxBatch: 1, maxInFlight: 2 });
    const all = ['a', 'b', 'c'].map((s, i) => batcher.claim(claim(s, `h${i}`)));
    await new Promise((resolve) => setImmediate(resolve));
    expect(statements.map((s) => s.servers)).toEqual([['a'], ['b']]);
    for (let i = 0; i < 3; i++) await releaseAll();
    await Promise.all(all);
    expect(statements).toHaveLength(3);
  });

  it("answers a deadlocked batch's claims as stale (decide again) and rejects them on any other error", async () => {
    const deadlocked = fakePool({ code: '40P01', message: 'deadlock detected' });
    const rows = Promise.all([new ClaimBatcher(deadlocked.pool, { maxBatch: 8, maxInFlight: 1 }).claim(claim('x', 'h1'))]);
    await deadlocked.releaseAll();
    expect((await rows).map((r) => [r.server_id, r.stale, r.generation])).toEqual([['x', true, null]]);

    const broken = fakePool({ message: 'connection terminated' });
    const failed = new ClaimBatcher(broken.pool, { maxBatch: 8, maxInFlight: 1 }).claim(claim('y', 'h1'));
    const settled = failed.catch((e: Error) => e.message);
    await broken.releaseAll();
    expect(await settled).toBe('connection terminated');
  });
});
