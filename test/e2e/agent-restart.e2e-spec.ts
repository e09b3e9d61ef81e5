/** Invariant 4: no agent crash stops a running VM; the restarted agent adopts it. */
import { OpenStackClient } from '@nubo/client';
import { adminClient, cloud, eventually, hostNumber, processAlive, qemuPid, qmpStatus } from '../support/cloud';

describe('compute agent crash', () => {
  let admin: OpenStackClient;
  let serverId: string | undefined;

  beforeAll(async () => {
    admin = await adminClient();
  });

  afterAll(async () => {
    if (serverId) {
      await admin.request('DELETE', `/compute/v2.1/servers/${serverId}`);
      await admin.waitForGone(serverId).catch(() => undefined);
    }
  });

  it('keeps the VM running through kill -9 of its agent, and the new agent adopts it', async () => {
    serverId = await admin.createServer({ name: 'survivor', flavorRef: '42' });
    const server = await admin.waitForStatus(serverId, 'ACTIVE');
    const hostId: string = server['OS-EXT-SRV-ATTR:host'];
    const n = hostNumber(hostId);
    const pid = qemuPid(hostId, serverId)!;
    const hostBefore = (await admin.hosts()).find((h) => h.id === hostId)!;

    cloud('stop-agent', String(n), '--kill');
    // The agent is gone: the control plane cannot reach it, but the guest runs on.
    const unreachable = await admin.request('GET', `/nubo/v1/servers/${serverId}/status`);
    expect(unreachable.status).toBe(503);
    expect(processAlive(pid)).toBe(true);
    expect(await qmpStatus(hostId, serverId)).toBe('running');

    cloud('start-agent', String(n));
    await eventually('the restarted agent to heartbeat', async () => {
      const host = (await admin.hosts()).find((h) => h.id === hostId)!;
      return host.state === 'up' && host.agent_started_at !== hostBefore.agent_started_at;
    });

    // Adopted: the new agent answers for the same QEMU (same pid) from its own QMP connection.
    const live = await eventually('the agent to report the adopted VM', async () => {
      const reply = await admin.request('GET', `/nubo/v1/servers/${serverId}/status`);
      return reply.status === 200 ? reply.body.status : undefined;
    });
    expect(live).toMatchObject({ qmp_status: 'running', power_state: 'running', pid });
    expect((await admin.getServer(serverId)).status).toBe('ACTIVE');

    // And it controls it: DELETE through the new agent stops that very process.
    expect((await admin.request('DELETE', `/compute/v2.1/servers/${serverId}`)).status).toBe(204);
    await admin.waitForGone(serverId);
    await eventually('QEMU to exit', async () => !processAlive(pid));
    serverId = undefined;
  });
});
