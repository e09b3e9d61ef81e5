/**
 * The walking skeleton, through the real path: Keystone token -> Nova create -> PostgreSQL ->
 * BullMQ -> scheduler placement -> agent over NATS -> QEMU in the host's namespace -> QMP.
 */
import { OpenStackClient } from '@nubo/client';
import { existsSync } from 'node:fs';
import { E2E } from '../support/e2e-env';
import { adminClient, cmdline, instanceDir, netnsOf, processAlive, qemuPid, qmpStatus, eventually } from '../support/cloud';

describe('walking skeleton', () => {
  let admin: OpenStackClient;
  const created: string[] = [];

  beforeAll(async () => {
    admin = await adminClient();
  });

  afterAll(async () => {
    for (const id of created) await admin.request('DELETE', `/compute/v2.1/servers/${id}`);
    for (const id of created) await admin.waitForGone(id).catch(() => undefined);
  });

  it('boots a server as a real QEMU on the host with the most free RAM, and DELETE frees it', async () => {
    const before = await admin.hosts();
    expect(before.filter((h) => h.state === 'up')).toHaveLength(3);
    const best = [...before].sort((a, b) => b.free.ram_mb - a.free.ram_mb || a.id.localeCompare(b.id))[0];

    const id = await admin.createServer({ name: 'skeleton-1', flavorRef: '42' });
    created.push(id);
    const server = await admin.waitForStatus(id, 'ACTIVE');
    expect(server['OS-EXT-SRV-ATTR:host']).toBe(best.id);
    expect(server['OS-EXT-STS:power_state']).toBe(1);
    expect(server['OS-EXT-STS:task_state']).toBeNull();

    // Reality: a QEMU process for this server, inside the host's namespace, running per QMP.
    const pid = qemuPid(best.id, id)!;
    expect(pid).toBeGreaterThan(1);
    expect(processAlive(pid)).toBe(true);
    expect(cmdline(pid)).toContain('qemu-system-x86_64');
    expect(cmdline(pid)).toContain(id);
    expect(netnsOf(pid)).toBe(best.id);
    expect(await qmpStatus(best.id, id)).toBe('running');

    const live = await admin.liveStatus(id);
    expect(live).toMatchObject({ qmp_status: 'running', power_state: 'running', pid, host: best.id });

    const during = (await admin.hosts()).find((h) => h.id === best.id)!;
    expect(during.free.ram_mb).toBe(best.free.ram_mb - 128);

    const del = await admin.request('DELETE', `/compute/v2.1/servers/${id}`);
    expect(del.status).toBe(204);
    await admin.waitForGone(id);
    await eventually('QEMU to exit', async () => !processAlive(pid));
    expect(existsSync(instanceDir(best.id, id))).toBe(false);
    const after = (await admin.hosts()).find((h) => h.id === best.id)!;
    expect(after.free.ram_mb).toBe(best.free.ram_mb);
    expect(after.allocations).toBe(best.allocations);
  });

  it('spreads servers: the second lands on the best-weighed host (free RAM, vCPUs, disk), as its decision says', async () => {
    const a = await admin.createServer({ name: 'spread-a', flavorRef: '1' });
    created.push(a);
    const hostA = (await admin.waitForStatus(a, 'ACTIVE'))['OS-EXT-SRV-ATTR:host'];
    const b = await admin.createServer({ name: 'spread-b', flavorRef: '1' });
    created.push(b);
    const hostB = (await admin.waitForStatus(b, 'ACTIVE'))['OS-EXT-SRV-ATTR:host'];
    const { placement } = await admin.call('GET', `/nubo/v1/servers/${b}/placement`, 200);
    const decision = placement.decisions.at(-1);
    expect(decision.host).toBe(hostB);
    const totals = decision.weighed.map((w: { total: number }) => w.total);
    expect(decision.weighed[0].host).toBe(hostB);
    expect(totals[0]).toBe(Math.max(...totals));
    // Spreading: every candidate was weighed for free RAM, and the host with the most free RAM scores 1.
    expect(decision.weighed.every((w: { weights: Record<string, number> }) => 'RAMWeigher' in w.weights)).toBe(true);
    expect(Math.max(...decision.weighed.map((w: { weights: Record<string, number> }) => w.weights.RAMWeigher))).toBe(1);
    expect(typeof hostA).toBe('string');
  });

  it('answers version discovery and lists through the network and image services', async () => {
    expect((await admin.request('GET', '/identity')).status).toBe(300);
    expect((await admin.call('GET', '/compute/v2.1', 200)).version.id).toBe('v2.1');
    expect(Array.isArray((await admin.call('GET', '/network/v2.0/networks', 200)).networks)).toBe(true);
    expect(Array.isArray((await admin.call('GET', '/image/v2/images', 200)).images)).toBe(true);
    const health = await admin.request('GET', '/healthz');
    expect(health.status).toBe(200);
    expect(health.body.checks).toEqual({ postgres: 'ok', redis: 'ok', scheduler: 'ok', network: 'ok', 'image-store': 'ok' });
  });

  it('serves /healthz on every service and agent', async () => {
    const base = Number(E2E.NUBO_HEALTH_PORT_BASE);
    const ports = { scheduler: base + 1, network: base + 2, 'image-store': base + 3, 'agent-h1': base + 11, 'agent-h2': base + 12, 'agent-h3': base + 13 };
    for (const [service, port] of Object.entries(ports)) {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`);
      expect({ service, status: res.status }).toEqual({ service, status: 200 });
      expect(((await res.json()) as { status: string }).status).toBe('ok');
    }
  });
});
