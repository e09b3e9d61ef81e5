/**
 * kill -9 of a compute agent in the middle of an operation (spawn, SOFT reboot, os-stop). The
 * workflows ask the restarted agent again (same host, same claim, same operation id) and every
 * server converges to its desired state. Invariants checked (RELIABILITY.md): 1 single runner
 * (exactly one QEMU per running server across all hosts), 2 convergence (no orphan, no ghost, no
 * task state left set), 5 every accepted operation ends.
 */
import { OpenStackClient } from '@nubo/client';
import { pidsNaming } from '@nubo/testing';
import { adminClient, cloud, eventually, hostNumber, processAlive } from '../support/cloud';
import { agentPid, expectConverged, qemusOf, signalAgent } from '../support/host-faults';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('agent kill -9 during an operation', () => {
  let admin: OpenStackClient;
  const servers: string[] = [];

  const act = (id: string, body: unknown) => admin.request('POST', `/compute/v2.1/servers/${id}/action`, { body });

  /** kill -9 of host n's agent (frozen or not), then a new agent once the old one is gone. */
  async function killAndRestart(n: number): Promise<void> {
    const pid = agentPid(n);
    signalAgent(n, 'SIGKILL');
    await eventually(`agent ${n} (pid ${pid}) to die`, async () => !processAlive(pid), 10_000);
    cloud('start-agent', String(n));
  }

  async function boot(name: string): Promise<{ id: string; host: string }> {
    const id = await admin.createServer({ name, flavorRef: '42' });
    servers.push(id);
    const server = await admin.waitForStatus(id, 'ACTIVE');
    return { id, host: server['OS-EXT-SRV-ATTR:host'] };
  }

  /** Waits for the server's task to end. */
  const idle = (id: string) =>
    eventually(`server ${id} to finish its task`, async () => {
      const server = await admin.getServer(id);
      return server['OS-EXT-STS:task_state'] === null && server.status !== 'BUILD' ? server : undefined;
    }, 120_000);

  beforeAll(async () => {
    admin = await adminClient();
  });

  afterAll(async () => {
    for (const id of servers) await admin.request('DELETE', `/compute/v2.1/servers/${id}`);
    for (const id of servers) await admin.waitForGone(id).catch(() => undefined);
  });

  it('during a spawn: frozen as its QEMU appears, killed, restarted; the server ends ACTIVE with one QEMU', async () => {
    const id = await admin.createServer({ name: 'kill-during-spawn', flavorRef: '42' });
    servers.push(id);
    // As soon as the new QEMU process exists, freeze the agent that started it.
    const pid = await eventually('the QEMU of the new server to appear', async () => pidsNaming(id)[0], 60_000);
    const host = (await admin.getServer(id))['OS-EXT-SRV-ATTR:host'] as string;
    const n = hostNumber(host);
    signalAgent(n, 'SIGSTOP');
    const statusWhenFrozen = (await admin.getServer(id)).status;
    console.log(`agent of ${host} frozen while the server was ${statusWhenFrozen} (QEMU pid ${pid})`);
    await sleep(500);
    await killAndRestart(n);

    const server = await idle(id);
    expect(server.status).toBe('ACTIVE');
    // The QEMU the dead agent started is the one that runs: adopted, not started twice.
    expect(qemusOf(id)).toEqual([{ pid, host }]);
    await expectConverged(admin, { [id]: 'ACTIVE' });
  });

  it('during a SOFT reboot (the guest ignores ACPI; the agent waits its grace period): ends ACTIVE with one QEMU', async () => {
    const { id, host } = await boot('kill-during-reboot');
    expect((await act(id, { reboot: { type: 'SOFT' } })).status).toBe(202);
    // NUBO_STOP_GRACE_S=2: the agent is inside the grace period.
    await sleep(700);
    expect((await admin.getServer(id))['OS-EXT-STS:task_state']).toBe('rebooting');
    await killAndRestart(hostNumber(host));

    const server = await idle(id);
    expect(server.status).toBe('ACTIVE');
    await expectConverged(admin, { [id]: 'ACTIVE' });
  });

  it('during an os-stop: ends SHUTOFF with no QEMU anywhere', async () => {
    const { id, host } = await boot('kill-during-stop');
    expect((await act(id, { 'os-stop': null })).status).toBe(202);
    await sleep(700);
    expect((await admin.getServer(id))['OS-EXT-STS:task_state']).toBe('powering-off');
    await killAndRestart(hostNumber(host));

    const server = await idle(id);
    expect(server.status).toBe('SHUTOFF');
    expect(server).not.toHaveProperty('fault');
    await expectConverged(admin, { [id]: 'SHUTOFF' });
  });

  it('leaves every server of this spec as asked, after all the kills', async () => {
    const states = Object.fromEntries(
      await Promise.all(servers.map(async (id) => [id, (await admin.getServer(id)).status === 'SHUTOFF' ? 'SHUTOFF' : 'ACTIVE'] as const)),
    );
    await expectConverged(admin, states);
    for (const id of servers) expect(qemusOf(id).length).toBeLessThanOrEqual(1);
  });
});
