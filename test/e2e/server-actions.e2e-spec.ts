/** Nova server actions through the API, each checked against QEMU itself (process, QMP status). */
import { OpenStackClient } from '@nubo/client';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { adminClient, eventually, instanceDir, processAlive, qemuPid, qmpStatus } from '../support/cloud';

describe('server actions', () => {
  let admin: OpenStackClient;
  let id: string;
  let host: string;

  const act = (body: unknown) => admin.request('POST', `/compute/v2.1/servers/${id}/action`, { body });
  const accepted = async (body: unknown) => expect((await act(body)).status).toBe(202);

  beforeAll(async () => {
    admin = await adminClient();
    id = await admin.createServer({ name: 'actions', flavorRef: '42' });
    host = (await admin.waitForStatus(id, 'ACTIVE'))['OS-EXT-SRV-ATTR:host'];
  });

  afterAll(async () => {
    await admin.request('DELETE', `/compute/v2.1/servers/${id}`);
    await admin.waitForGone(id).catch(() => undefined);
  });

  it('pauses and unpauses: QEMU stops and continues the vCPUs', async () => {
    const pid = qemuPid(host, id)!;
    await accepted({ pause: null });
    const paused = await admin.waitForStatus(id, 'PAUSED');
    expect(paused['OS-EXT-STS:power_state']).toBe(3);
    expect(await qmpStatus(host, id)).toBe('paused');

    await accepted({ unpause: null });
    // A second operation while one is in flight or in the wrong state is a conflict.
    const again = await act({ unpause: null });
    expect(again.status).toBe(409);
    expect(again.body.conflictingRequest.message).toMatch(/Cannot 'unpause' instance/);
    await admin.waitForStatus(id, 'ACTIVE');
    expect(await qmpStatus(host, id)).toBe('running');
    expect(qemuPid(host, id)).toBe(pid);
  });

  it('stops (QEMU exits, the disk stays) and starts again (a new QEMU)', async () => {
    const pid = qemuPid(host, id)!;
    await accepted({ 'os-stop': null });
    const stopped = await admin.waitForStatus(id, 'SHUTOFF');
    expect(stopped['OS-EXT-STS:power_state']).toBe(4);
    await eventually('QEMU to exit', async () => !processAlive(pid));
    expect(existsSync(instanceDir(host, id))).toBe(true);
    expect((await act({ pause: null })).status).toBe(409);

    await accepted({ 'os-start': null });
    await admin.waitForStatus(id, 'ACTIVE');
    const newPid = qemuPid(host, id)!;
    expect(newPid).not.toBe(pid);
    expect(processAlive(newPid)).toBe(true);
    expect(await qmpStatus(host, id)).toBe('running');
  });

  it('reboots HARD in place (system_reset, same process) and SOFT back to running', async () => {
    const pid = qemuPid(host, id)!;
    await accepted({ reboot: { type: 'HARD' } });
    await eventually('hard reboot to finish', async () => (await admin.getServer(id))['OS-EXT-STS:task_state'] === null);
    expect((await admin.getServer(id)).status).toBe('ACTIVE');
    expect(qemuPid(host, id)).toBe(pid);
    expect(await qmpStatus(host, id)).toBe('running');

    await accepted({ reboot: { type: 'SOFT' } });
    await eventually('soft reboot to finish', async () => (await admin.getServer(id))['OS-EXT-STS:task_state'] === null);
    expect((await admin.getServer(id)).status).toBe('ACTIVE');
    expect(await qmpStatus(host, id)).toBe('running');
  });

  it('suspends (guest RAM saved to a file, QEMU gone) and resumes from it', async () => {
    const pid = qemuPid(host, id)!;
    await accepted({ suspend: null });
    const suspended = await admin.waitForStatus(id, 'SUSPENDED');
    expect(suspended['OS-EXT-STS:power_state']).toBe(7);
    await eventually('QEMU to exit', async () => !processAlive(pid));
    expect(existsSync(join(instanceDir(host, id), 'memory.save'))).toBe(true);

    await accepted({ resume: null });
    await admin.waitForStatus(id, 'ACTIVE');
    expect(await qmpStatus(host, id)).toBe('running');
    expect(existsSync(join(instanceDir(host, id), 'memory.save'))).toBe(false);
  });

  it('refuses unknown actions and bad reboot types naming them', async () => {
    const unknown = await act({ 'os-fly': null });
    expect(unknown.status).toBe(400);
    expect(unknown.body.badRequest.message).toMatch(/os-fly/);
    const reboot = await act({ reboot: { type: 'GENTLY' } });
    expect(reboot.status).toBe(400);
    expect(reboot.body.badRequest.message).toMatch(/type/);
  });

  it('logs every action with its request id (os-instance-actions)', async () => {
    const { instanceActions } = await admin.call('GET', `/compute/v2.1/servers/${id}/os-instance-actions`, 200);
    expect(instanceActions.map((a: { action: string }) => a.action).reverse()).toEqual([
      'create', 'pause', 'unpause', 'stop', 'start', 'reboot', 'reboot', 'suspend', 'resume',
    ]);
    const first = instanceActions[instanceActions.length - 1];
    const detail = await admin.call('GET', `/compute/v2.1/servers/${id}/os-instance-actions/${first.request_id}`, 200);
    expect(detail.instanceAction.events[0]).toMatchObject({ event: 'compute__do_build_and_run_instance', result: 'Success' });
  });
});
