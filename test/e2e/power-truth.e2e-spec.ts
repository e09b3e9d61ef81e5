/**
 * Power-state truth: what the API shows is what QEMU does. A QEMU killed under a running server
 * shows SHUTOFF with a fault at once (invariant 2: no ghost); a guest kernel panic shows ERROR with
 * a fault; a host that loses power and comes back starts the servers that were running (autostart)
 * and leaves the stopped ones off.
 */
import { OpenStackClient } from '@nubo/client';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { adminClient, cloud, eventually, hostNumber, processAlive, qemuPid, qmpStatus, withDb } from '../support/cloud';
import { openrcPath } from '../support/e2e-env';
import { openrcEnv } from '../support/openrc';
import { GUEST_BOOTED, GUEST_READY, consoleOutput, testImageId, typeOnSerial, waitForConsole } from '../support/guest';
import { expectConverged, powerOffHost, qemusOf } from '../support/host-faults';

jest.setTimeout(600_000);

const run = promisify(execFile);

describe('power-state truth', () => {
  let admin: OpenStackClient;
  const servers: string[] = [];
  const home = mkdtempSync(join(tmpdir(), 'power-truth-'));

  /** The stock CLI with the admin openrc. */
  async function openstack(...args: string[]): Promise<void> {
    await run('openstack', args, { env: { PATH: process.env.PATH!, HOME: home, ...openrcEnv(openrcPath) }, timeout: 120_000 });
  }

  async function boot(name: string): Promise<{ id: string; host: string }> {
    const id = await admin.createServer({ name, flavorRef: '42' });
    servers.push(id);
    const server = await admin.waitForStatus(id, 'ACTIVE');
    return { id, host: server['OS-EXT-SRV-ATTR:host'] };
  }

  beforeAll(async () => {
    admin = await adminClient();
  });

  afterAll(async () => {
    for (const id of servers) await admin.request('DELETE', `/compute/v2.1/servers/${id}`);
    for (const id of servers) await admin.waitForGone(id).catch(() => undefined);
    rmSync(home, { recursive: true, force: true });
  });

  it('shows SHUTOFF with a fault as soon as the QEMU of an ACTIVE server is killed, and starts again', async () => {
    const { id, host } = await boot('killed-qemu');
    const pid = qemuPid(host, id)!;
    const ms = await withDb(async (db) => {
      const killedAt = Date.now();
      process.kill(pid, 'SIGKILL');
      // Polled every 5 ms: the time from kill -9 to the row saying stopped.
      while (Date.now() - killedAt < 30_000) {
        const { rows } = await db.query(`SELECT vm_state FROM compute.servers WHERE id = $1`, [id]);
        if (rows[0].vm_state === 'stopped') return Date.now() - killedAt;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      throw new Error('the database never said stopped');
    });
    console.log(`QEMU killed -> database says stopped in ${ms} ms`);
    const off = await admin.waitForStatus(id, 'SHUTOFF', 5_000);
    expect(off['OS-EXT-STS:power_state']).toBe(4);
    expect(off['OS-EXT-STS:task_state']).toBeNull();
    expect(off.fault).toMatchObject({ code: 500, message: 'QEMU exited unexpectedly: killed by SIGKILL' });
    expect(off.fault.details).toContain(host);
    expect(processAlive(pid)).toBe(false);
    expect(qemusOf(id)).toEqual([]);

    await openstack('server', 'start', id);
    const on = await admin.waitForStatus(id, 'ACTIVE');
    expect(on).not.toHaveProperty('fault');
    expect(await qmpStatus(host, id)).toBe('running');
    expect(qemusOf(id).map((q) => q.pid)).toEqual([qemuPid(host, id)]);
  });

  it('shows ERROR with a fault when the guest kernel panics (pvpanic), and a HARD reboot brings it back', async () => {
    const id = await admin.createServer({ name: 'panicking', flavorRef: '1', imageRef: await testImageId(admin) });
    servers.push(id);
    const host = (await admin.waitForStatus(id, 'ACTIVE', 300_000))['OS-EXT-SRV-ATTR:host'];
    await waitForConsole(admin, id, GUEST_READY);
    const pid = qemuPid(host, id)!;

    // A real panic: the kernel tells QEMU through the pvpanic device, QEMU ends (-action panic=shutdown).
    await typeOnSerial(host, id, 'echo c > /proc/sysrq-trigger');
    const crashed = await admin.waitForStatus(id, 'ERROR', 60_000);
    expect(crashed.fault).toMatchObject({ code: 500, message: expect.stringMatching(/^Guest panicked/) });
    expect(crashed['OS-EXT-STS:task_state']).toBeNull();
    await eventually('the panicked QEMU to end', async () => !processAlive(pid), 10_000);
    expect(await consoleOutput(admin, id)).toMatch(/Kernel panic/);

    await openstack('server', 'reboot', '--hard', id);
    const back = await eventually('the HARD reboot to finish', async () => {
      const server = await admin.getServer(id);
      return server.status === 'ACTIVE' && server['OS-EXT-STS:task_state'] === null ? server : undefined;
    }, 60_000);
    expect(back).not.toHaveProperty('fault');
    expect(back['OS-EXT-STS:power_state']).toBe(1);
    expect(await qmpStatus(host, id)).toBe('running');
    expect(qemusOf(id).map((q) => q.pid)).toEqual([qemuPid(host, id)]);
    await waitForConsole(admin, id, GUEST_BOOTED, 2);
  });

  it('starts the servers that were running when their host comes back from a power loss; a stopped one stays off', async () => {
    const running = await boot('autostart-on');
    const stopped = await boot('autostart-off');
    expect((await admin.request('POST', `/compute/v2.1/servers/${stopped.id}/action`, { body: { 'os-stop': null } })).status).toBe(202);
    await admin.waitForStatus(stopped.id, 'SHUTOFF');
    const oldPid = qemuPid(running.host, running.id)!;

    const hosts = [...new Set([running.host, stopped.host])].map(hostNumber);
    for (const n of hosts) powerOffHost(n);
    await eventually('the old QEMU to be gone', async () => !processAlive(oldPid), 10_000);
    for (const n of hosts) cloud('start-agent', String(n));

    const back = await eventually(
      'the running server to be started again',
      async () => {
        const server = await admin.getServer(running.id);
        const pid = qemuPid(running.host, running.id);
        return server.status === 'ACTIVE' && server['OS-EXT-STS:task_state'] === null && pid && pid !== oldPid && processAlive(pid) ? server : undefined;
      },
      90_000,
    );
    expect(back['OS-EXT-STS:power_state']).toBe(1);
    expect(back).not.toHaveProperty('fault');
    expect(await qmpStatus(running.host, running.id)).toBe('running');

    // The start went through the normal path: an instance action with a request id of its own.
    const { instanceActions } = await admin.call('GET', `/compute/v2.1/servers/${running.id}/os-instance-actions`, 200);
    expect(instanceActions.map((a: { action: string }) => a.action)).toEqual(['start', 'create']);

    // A few heartbeats later the stopped one is still off.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const off = await admin.getServer(stopped.id);
    expect(off.status).toBe('SHUTOFF');
    expect(off).not.toHaveProperty('fault');
    await expectConverged(admin, { [running.id]: 'ACTIVE', [stopped.id]: 'SHUTOFF' });
  });
});
