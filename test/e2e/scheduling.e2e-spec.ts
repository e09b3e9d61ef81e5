/**
 * The scheduler's filters on the e2e cloud, through the public API: traits the agents report
 * (from this machine's /proc/cpuinfo), a flavor that requires an admin's CUSTOM_ trait or forbids
 * a standard one (NoValidHost naming the filter), aggregate metadata matched by flavor extra
 * specs, and the N+1 failover reserve of an aggregate; each decision's record at
 * /nubo/v1/servers/{id}/placement.
 */
import { OpenStackClient } from '@nubo/client';
import { readFileSync } from 'node:fs';
import { adminClient, eventually } from '../support/cloud';

const SMALL_MB = 2048;

describe('scheduling filters', () => {
  let admin: OpenStackClient;
  let hosts: any[];
  const servers: string[] = [];
  const flavors: string[] = [];
  const aggregates: number[] = [];
  const tag = Date.now().toString(36);

  const flavor = async (name: string, ram: number, specs: Record<string, string>) => {
    const { flavor: f } = await admin.call('POST', '/compute/v2.1/flavors', 200, { flavor: { name: `${name}-${tag}`, ram, vcpus: 1, disk: 1 } });
    flavors.push(f.id);
    await admin.call('POST', `/compute/v2.1/flavors/${f.id}/os-extra_specs`, 200, { extra_specs: specs });
    return f.id as string;
  };
  const server = async (name: string, flavorRef: string, zone?: string) => {
    const body = await admin.call('POST', '/compute/v2.1/servers', 202, {
      server: { name: `${name}-${tag}`, flavorRef, ...(zone ? { availability_zone: zone } : {}) },
    });
    servers.push(body.server.id);
    return body.server.id as string;
  };
  const settled = (id: string) => eventually(`server ${id} to settle`, async () => {
    const s = await admin.getServer(id);
    return ['ACTIVE', 'ERROR'].includes(s.status) ? s : undefined;
  }, 120_000);
  const aggregate = async (name: string, members: string[], metadata: Record<string, string>) => {
    const { aggregate: a } = await admin.call('POST', '/compute/v2.1/os-aggregates', 200, { aggregate: { name: `${name}-${tag}` } });
    aggregates.push(a.id);
    for (const host of members) await admin.call('POST', `/compute/v2.1/os-aggregates/${a.id}/action`, 200, { add_host: { host } });
    await admin.call('POST', `/compute/v2.1/os-aggregates/${a.id}/action`, 200, { set_metadata: { metadata } });
  };
  const decisions = async (id: string) => (await admin.call('GET', `/nubo/v1/servers/${id}/placement`, 200)).placement.decisions as any[];
  /** The up host with the least free RAM: the one the weighers would pick last. */
  const leastFree = async () => [...(await admin.hosts())].sort((a, b) => a.free.ram_mb - b.free.ram_mb || b.id.localeCompare(a.id))[0].id as string;

  beforeAll(async () => {
    admin = await adminClient();
    hosts = (await admin.hosts()).filter((h) => h.state === 'up');
    expect(hosts).toHaveLength(3);
  });

  afterAll(async () => {
    for (const id of servers) await admin.request('DELETE', `/compute/v2.1/servers/${id}`);
    for (const id of servers) await admin.waitForGone(id).catch(() => undefined);
    for (const id of aggregates) {
      const { aggregate: a } = await admin.call('GET', `/compute/v2.1/os-aggregates/${id}`, 200);
      for (const host of a.hosts) await admin.request('POST', `/compute/v2.1/os-aggregates/${id}/action`, { body: { remove_host: { host } } });
      await admin.request('DELETE', `/compute/v2.1/os-aggregates/${id}`);
    }
    for (const id of flavors) await admin.request('DELETE', `/compute/v2.1/flavors/${id}`);
    for (const h of hosts) await admin.request('PUT', `/nubo/v1/hosts/${h.id}/traits`, { body: { traits: [] } });
  });

  it("has each agent report its accelerators and this machine's CPU flags as traits", async () => {
    const flags = new Set(/^flags\s*:(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))![1].trim().split(/\s+/));
    for (const h of hosts) {
      const traits = await eventually(`traits of ${h.id}`, async () => {
        const { traits: t } = await admin.call('GET', `/nubo/v1/hosts/${h.id}/traits`, 200);
        return t.length > 0 ? (t as Array<{ name: string; source: string }>) : undefined;
      });
      const agent = traits.filter((t) => t.source === 'agent').map((t) => t.name);
      expect(agent).toContain('COMPUTE_ACCEL_TCG');
      expect(agent.includes('COMPUTE_ACCEL_KVM')).toBe(h.accelerator === 'kvm');
      expect(agent.includes('HW_CPU_X86_SSE42')).toBe(flags.has('sse4_2'));
      expect(agent.includes('HW_CPU_X86_AVX2')).toBe(flags.has('avx2'));
      expect(agent.includes('HW_CPU_X86_SSE3')).toBe(flags.has('pni'));
      // Every host of the all-in-one cloud mounts its shared storage.
      expect(agent).toContain('CUSTOM_NUBO_SHARED_STORAGE');
      for (const name of agent) expect(name).toMatch(/^(COMPUTE_ACCEL_(KVM|TCG)|HW_CPU_X86_[A-Z0-9]+|CUSTOM_NUBO_SHARED_STORAGE)$/);
    }
  });

  it('places a flavor that requires a CUSTOM_ trait on the one host that has it', async () => {
    const target = await leastFree();
    await admin.call('PUT', `/nubo/v1/hosts/${target}/traits`, 200, { traits: ['CUSTOM_E2E_SCHED'] });
    const id = await server('trait', await flavor('trait', 128, { 'trait:CUSTOM_E2E_SCHED': 'required' }));
    const s = await settled(id);
    expect({ status: s.status, host: s['OS-EXT-SRV-ATTR:host'] }).toEqual({ status: 'ACTIVE', host: target });
    const [decision] = await decisions(id);
    const traits = decision.filters.find((f: any) => f.name === 'TraitsFilter');
    expect(Object.keys(traits.removed).sort()).toEqual(hosts.map((h) => h.id).filter((h) => h !== target).sort());
    expect(Object.values(traits.removed)).toEqual(['Traits: required CUSTOM_E2E_SCHED missing', 'Traits: required CUSTOM_E2E_SCHED missing']);
    expect(decision.host).toBe(target);
    expect(decision.weighed[0].host).toBe(target);
  });

  it('answers NoValidHost naming the filter when every host has a forbidden trait', async () => {
    const id = await server('forbid', await flavor('forbid', 128, { 'trait:COMPUTE_ACCEL_TCG': 'forbidden' }));
    const s = await settled(id);
    expect(s.status).toBe('ERROR');
    expect(s.fault.message).toBe(
      'No valid host was found. There are not enough hosts available. Filter TraitsFilter removed the last 3 host(s): Traits: forbidden COMPUTE_ACCEL_TCG present',
    );
    const [decision] = await decisions(id);
    expect(decision).toMatchObject({ host: null, weighed: [], no_valid_host: expect.stringContaining('Filter TraitsFilter removed the last 3 host(s)') });
  });

  it("places a flavor with aggregate_instance_extra_specs on a host of the matching aggregate", async () => {
    const target = await leastFree();
    await aggregate('ssd', [target], { ssd: 'true' });
    const id = await server('agg', await flavor('agg', 128, { 'aggregate_instance_extra_specs:ssd': 'true' }));
    const s = await settled(id);
    expect({ status: s.status, host: s['OS-EXT-SRV-ATTR:host'] }).toEqual({ status: 'ACTIVE', host: target });
  });

  it('keeps an N+1 failover reserve in an aggregate with nubo:failover_reserve=true', async () => {
    const members = [...hosts].sort((a, b) => a.id.localeCompare(b.id)).slice(0, 2).map((h) => h.id as string);
    await aggregate('n1', members, { 'nubo:failover_reserve': 'true' });
    const small = await flavor('n1', SMALL_MB, {});
    // Fill the members (forced hosts, the roomier first) until the reserve refuses a server.
    let refused: any;
    for (let i = 0; i < 8 && !refused; i++) {
      const now = (await admin.hosts()).filter((h) => members.includes(h.id));
      const roomier = now.sort((a, b) => b.free.ram_mb - a.free.ram_mb)[0];
      // Before each placement: would it break the rule (every member's used <= the others' free)?
      const after = now.map((h) => (h.id === roomier.id ? { used: h.used.ram_mb + SMALL_MB, free: h.free.ram_mb - SMALL_MB } : { used: h.used.ram_mb, free: h.free.ram_mb }));
      const breaks = after.some((x, j) => x.used > after.filter((_, k) => k !== j).reduce((sum, y) => sum + Math.max(0, y.free), 0));
      const s = await settled(await server(`n1-${i}`, small, `nova:${roomier.id}`));
      if (s.status === 'ERROR') refused = s;
      const seen = now.map((h) => ({ id: h.id, used: h.used.ram_mb, free: h.free.ram_mb, vcpus: h.used.vcpus, freeVcpus: h.free.vcpus }));
      expect({ i, status: s.status, seen, on: roomier.id }).toEqual({ i, status: breaks ? 'ERROR' : 'ACTIVE', seen, on: roomier.id });
    }
    expect(refused.fault.message).toMatch(
      /^No valid host was found\. There are not enough hosts available\. Filter FailoverReserveFilter removed the last 1 host\(s\): FailoverReserve: aggregate n1-\w+ keeps room to restart the servers of its largest host on the others/,
    );
    expect(servers.length).toBeGreaterThan(1);
  });
});
