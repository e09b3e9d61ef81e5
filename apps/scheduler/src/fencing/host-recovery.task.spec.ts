import { Logger } from '@nestjs/common';
import { FenceDriver } from './fence-driver';
import { HostRecoveryTask } from './host-recovery.task';

type Host = { id: string; state: string; lease_expired_for_ms: number | null; silent_for_ms?: number };
type Server = { id: string; host_id: string; flavor_specs: Record<string, string> | null; metadata: Record<string, string> | null; open_evacuation: boolean };

/** A leader session over in-memory hosts and servers; records the writes. */
function session(hosts: Host[], servers: Server[]) {
  const writes: string[] = [];
  const settings = { enabled: true, alert: null as string | null };
  const query = async (sql: string, params: unknown[] = []): Promise<any[]> => {
    if (sql.startsWith('SELECT enabled, alert')) return [{ ...settings }];
    if (sql.startsWith('UPDATE compute.failover_settings')) {
      settings.alert = params[0] as string | null;
      writes.push(`alert: ${settings.alert}`);
      return [];
    }
    if (sql.includes('FROM compute.hosts h LEFT JOIN compute.host_leases')) return hosts.map((h) => ({ silent_for_ms: h.state === 'up' ? 0 : 13_000, ...h }));
    if (sql.includes("SET state = 'fenced'")) {
      const host = hosts.find((h) => h.id === params[0] && h.state === 'down');
      if (!host) return [];
      host.state = 'fenced';
      writes.push(`fenced ${host.id}: ${params[1] as string}`);
      return [{ id: host.id }];
    }
    if (sql.includes('UPDATE compute.host_leases')) return [];
    if (sql.includes('FROM compute.servers s')) return servers.filter((s) => (params[0] as string[]).includes(s.host_id));
    throw new Error(`unexpected SQL ${sql}`);
  };
  return { writes, settings, ctx: { tick: 1, session: { term: 1, active: true, query } } };
}

const driver = (confirmed: boolean): FenceDriver & { fenced: string[] } => {
  const fenced: string[] = [];
  return { name: 'test', fenced, fence: async (id) => (fenced.push(id), { confirmed, detail: confirmed ? 'off' : 'BMC unreachable' }) };
};

const options = { stormPercent: 50, selfFenceMarginMs: 2_000, downAfterMs: 10_000, settleMs: 2_000, stormWindowMs: 60_000, retryMs: 0, trustLeaseExpiry: false };

describe(HostRecoveryTask.name, () => {
  beforeAll(() => Logger.overrideLogger(false));

  it('fences a dead host, then evacuates its HA servers by priority, leaving the others', async () => {
    const hosts = [
      { id: 'h1', state: 'down', lease_expired_for_ms: 500 },
      { id: 'h2', state: 'up', lease_expired_for_ms: -5_000 },
      { id: 'h3', state: 'up', lease_expired_for_ms: -5_000 },
    ];
    const servers: Server[] = [
      { id: 'plain', host_id: 'h1', flavor_specs: {}, metadata: {}, open_evacuation: false },
      { id: 'low', host_id: 'h1', flavor_specs: { 'nubo:ha': 'true' }, metadata: {}, open_evacuation: false },
      { id: 'high', host_id: 'h1', flavor_specs: {}, metadata: { 'nubo:ha': 'true', 'nubo:ha_priority': '9' }, open_evacuation: false },
      { id: 'busy', host_id: 'h1', flavor_specs: { 'nubo:ha': 'true' }, metadata: {}, open_evacuation: true },
    ];
    const { writes, ctx } = session(hosts, servers);
    const asked: string[] = [];
    const fence = driver(true);
    const task = new HostRecoveryTask(fence, { evacuate: async (id) => (asked.push(id), { migrationId: `m-${id}`, created: true }) }, options);
    await task.run(ctx);
    expect(fence.fenced).toEqual(['h1']);
    expect(writes).toEqual(['fenced h1: fenced by test: off']);
    // 'busy' is asked for too: its open record is kept and only its job queued again.
    expect(asked).toEqual(['high', 'busy', 'low']);
  });

  it('as a new leader, queues again the job of an evacuation a dead leader recorded, then waits retryMs', async () => {
    const hosts = [
      { id: 'h1', state: 'fenced', lease_expired_for_ms: 9_000 },
      { id: 'h2', state: 'up', lease_expired_for_ms: -5_000 },
      { id: 'h3', state: 'up', lease_expired_for_ms: -5_000 },
    ];
    const { ctx } = session(hosts, [{ id: 'orphan', host_id: 'h1', flavor_specs: { 'nubo:ha': 'true' }, metadata: {}, open_evacuation: true }]);
    const asked: string[] = [];
    const evacuations = { evacuate: async (id: string) => (asked.push(id), { migrationId: 'm-recorded-by-the-dead-leader', created: false }) };
    const fence = driver(true);
    const task = new HostRecoveryTask(fence, evacuations, { ...options, retryMs: 60_000 });
    await task.run(ctx);
    expect(asked).toEqual(['orphan']);
    await task.run(ctx);
    expect(asked).toEqual(['orphan']);
    expect(fence.fenced).toEqual([]);
  });

  it('in a storm fences nothing (and evacuates nothing new)', async () => {
    const hosts = [
      { id: 'h1', state: 'down', lease_expired_for_ms: 9_000 },
      { id: 'h2', state: 'down', lease_expired_for_ms: 9_000 },
      { id: 'h3', state: 'up', lease_expired_for_ms: -5_000 },
    ];
    const { writes, ctx } = session(hosts, [{ id: 'a', host_id: 'h1', flavor_specs: { 'nubo:ha': 'true' }, metadata: {}, open_evacuation: false }]);
    const fence = driver(true);
    const asked: string[] = [];
    await new HostRecoveryTask(fence, { evacuate: async (id) => (asked.push(id), { migrationId: 'm', created: true }) }, options).run(ctx);
    expect(fence.fenced).toEqual([]);
    expect(writes).toEqual([
      'alert: 2 of 3 hosts are silent at once (h1, h2), more than 50%: a control-plane partition, not host deaths; nothing is fenced automatically',
    ]);
    expect(asked).toEqual([]);
  });

  it('does nothing while automatic failover is off', async () => {
    const hosts = [
      { id: 'h1', state: 'down', lease_expired_for_ms: 9_000 },
      { id: 'h2', state: 'up', lease_expired_for_ms: -5_000 },
    ];
    const { writes, settings, ctx } = session(hosts, []);
    settings.enabled = false;
    const fence = driver(true);
    await new HostRecoveryTask(fence, { evacuate: async () => ({ migrationId: 'm', created: true }) }, options).run(ctx);
    expect(fence.fenced).toEqual([]);
    expect(writes).toEqual([]);
  });

  it('waits for a fence it cannot confirm until the lease is past the self-fence margin', async () => {
    const hosts = [
      { id: 'h1', state: 'down', lease_expired_for_ms: 1_000 },
      { id: 'h2', state: 'up', lease_expired_for_ms: -5_000 },
      { id: 'h3', state: 'up', lease_expired_for_ms: -5_000 },
    ];
    const { writes, ctx } = session(hosts, []);
    const task = new HostRecoveryTask(driver(false), { evacuate: async () => ({ migrationId: 'm', created: true }) }, { ...options, trustLeaseExpiry: true });
    await task.run(ctx);
    expect(writes).toEqual([]);
    hosts[0].lease_expired_for_ms = 2_500;
    // Not trusted unless configured: a frozen agent's QEMUs still run.
    await new HostRecoveryTask(driver(false), { evacuate: async () => ({ migrationId: 'm', created: true }) }, options).run(ctx);
    expect(writes).toEqual([]);
    await task.run(ctx);
    expect(writes).toEqual(['fenced h1: lease expired 3 s ago, past the self-fence margin (test: BMC unreachable)']);
  });
});
