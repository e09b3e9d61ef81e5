/**
 * Every power operation on a real Linux guest (the nubo-test image under TCG), checked three ways:
 * inside the guest (serial console markers, memwriter's counter), on the host (the QEMU process,
 * QMP query-status on the operator socket) and through the API (status, task state, power state).
 * The guest's console shell is driven through the instance's serial socket.
 */
import { OpenStackClient } from '@nubo/client';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { adminClient, eventually, instanceDir, processAlive, qemuPid, qmpStatus } from '../support/cloud';
import {
  GUEST_BOOTED,
  GUEST_READY,
  consoleOutput,
  lastMemwriterCounter,
  occurrences,
  testImageId,
  typeOnSerial,
  waitForConsole,
} from '../support/guest';

jest.setTimeout(900_000);

const isRoot = process.getuid?.() === 0;
const M1_TINY = '1';
const REPORT = 'NUBO-MEMWRITER: counter';

(isRoot ? describe : describe.skip)('the test guest through every power operation', () => {
  let admin: OpenStackClient;
  let id: string;
  let host: string;

  const act = (body: unknown) => admin.call('POST', `/compute/v2.1/servers/${id}/action`, 202, body);
  const apiState = async () => {
    const s = await admin.getServer(id);
    return { status: s.status, task: s['OS-EXT-STS:task_state'], power: s['OS-EXT-STS:power_state'] };
  };
  const idle = (status: string) =>
    eventually(`${status} with no task`, async () => {
      const s = await apiState();
      return s.status === status && s.task === null && s;
    }, 300_000);
  const log = () => consoleOutput(admin, id);
  const boots = async () => occurrences(await log(), GUEST_BOOTED);
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  beforeAll(async () => {
    admin = await adminClient();
    const imageRef = await testImageId(admin);
    id = await admin.createServer({ name: 'lifecycle, "guest" --one', flavorRef: M1_TINY, imageRef });
    host = (await admin.waitForStatus(id, 'ACTIVE', 300_000))['OS-EXT-SRV-ATTR:host'];
    await waitForConsole(admin, id, GUEST_READY);
  });

  afterAll(async () => {
    if (!id) return;
    await admin.request('DELETE', `/compute/v2.1/servers/${id}`);
    await admin.waitForGone(id, 120_000).catch(() => undefined);
  });

  it('runs a program typed on the serial console', async () => {
    await typeOnSerial(host, id, 'memwriter 8 1 1 &');
    await waitForConsole(admin, id, 'NUBO-MEMWRITER: started');
    await waitForConsole(admin, id, REPORT, 2);
    expect(lastMemwriterCounter(await log())!.ok).toBe(true);
  });

  it('pause freezes the guest (no report while paused) and unpause thaws it', async () => {
    const pid = qemuPid(host, id)!;
    await act({ pause: null });
    expect(await idle('PAUSED')).toMatchObject({ power: 3 });
    expect(await qmpStatus(host, id)).toBe('paused');
    const reports = occurrences(await log(), REPORT);
    await sleep(3_000);
    expect(occurrences(await log(), REPORT)).toBe(reports);

    await act({ unpause: null });
    expect(await idle('ACTIVE')).toMatchObject({ power: 1 });
    expect(await qmpStatus(host, id)).toBe('running');
    expect(qemuPid(host, id)).toBe(pid);
    await waitForConsole(admin, id, REPORT, reports + 2);
  });

  it('suspend saves guest RAM and ends QEMU; resume carries on counting from where it was', async () => {
    const pid = qemuPid(host, id)!;
    const before = lastMemwriterCounter(await log())!;
    await act({ suspend: null });
    expect(await idle('SUSPENDED')).toMatchObject({ power: 7 });
    await eventually('QEMU to exit', async () => !processAlive(pid));
    expect(existsSync(join(instanceDir(host, id), 'memory.save'))).toBe(true);
    const reports = occurrences(await log(), REPORT);

    await act({ resume: null });
    expect(await idle('ACTIVE')).toMatchObject({ power: 1 });
    const newPid = qemuPid(host, id)!;
    expect(newPid).not.toBe(pid);
    expect(await qmpStatus(host, id)).toBe('running');
    expect(existsSync(join(instanceDir(host, id), 'memory.save'))).toBe(false);
    const after = await waitForConsole(admin, id, REPORT, reports + 2);
    // The same process kept its memory: the counter went on, the program did not start again.
    const counter = lastMemwriterCounter(after)!;
    expect(counter.ok).toBe(true);
    expect(counter.counter).toBeGreaterThan(before.counter);
    expect(occurrences(after, 'NUBO-MEMWRITER: started')).toBe(1);
    expect(occurrences(after, GUEST_BOOTED)).toBe(1);
  });

  it('reboot HARD resets the guest in the same QEMU', async () => {
    const pid = qemuPid(host, id)!;
    const booted = await boots();
    await act({ reboot: { type: 'HARD' } });
    expect(await idle('ACTIVE')).toMatchObject({ power: 1 });
    expect(qemuPid(host, id)).toBe(pid);
    expect(await qmpStatus(host, id)).toBe('running');
    await waitForConsole(admin, id, GUEST_BOOTED, booted + 1);
  });

  it('reboot SOFT: the guest boots again and finds its own disk', async () => {
    await waitForConsole(admin, id, GUEST_READY, await boots());
    const booted = await boots();
    await act({ reboot: { type: 'SOFT' } });
    expect(await idle('ACTIVE')).toMatchObject({ power: 1 });
    expect(await qmpStatus(host, id)).toBe('running');
    const after = await waitForConsole(admin, id, GUEST_BOOTED, booted + 1);
    expect(after).toContain(`NUBO-GUEST: seen ${id}`);
  });

  it('os-stop ends QEMU and keeps the disk; os-start boots the same disk', async () => {
    await waitForConsole(admin, id, GUEST_READY, await boots());
    const pid = qemuPid(host, id)!;
    await act({ 'os-stop': null });
    expect(await idle('SHUTOFF')).toMatchObject({ power: 4 });
    await eventually('QEMU to exit', async () => !processAlive(pid));
    expect(existsSync(join(instanceDir(host, id), 'disk.qcow2'))).toBe(true);

    const booted = await boots();
    await act({ 'os-start': null });
    expect(await idle('ACTIVE')).toMatchObject({ power: 1 });
    const newPid = qemuPid(host, id)!;
    expect(newPid).not.toBe(pid);
    expect(await qmpStatus(host, id)).toBe('running');
    await waitForConsole(admin, id, GUEST_BOOTED, booted + 1);
  });

  it('delete ends QEMU and leaves nothing of the server on its host', async () => {
    const pid = qemuPid(host, id)!;
    const dir = instanceDir(host, id);
    expect((await admin.request('DELETE', `/compute/v2.1/servers/${id}`)).status).toBe(204);
    await admin.waitForGone(id, 120_000);
    expect(processAlive(pid)).toBe(false);
    expect(existsSync(dir)).toBe(false);
    expect((await admin.request('DELETE', `/compute/v2.1/servers/${id}`)).status).toBe(404);
    id = '';
  });
});
