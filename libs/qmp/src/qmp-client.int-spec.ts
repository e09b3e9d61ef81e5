/** QmpClient against a real QEMU (firmware-only guest, KVM when it opens, else TCG). */
import { ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QmpClient } from './qmp-client';
import { QmpCommandError, QmpDisconnectedError } from './qmp-errors';
import { QmpEvent } from './qmp-messages';

function accel(): string {
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
    return 'kvm';
  } catch {
    return 'tcg';
  }
}

describe(`${QmpClient.name} with real QEMU`, () => {
  let dir: string;
  let qemu: ChildProcess;
  let client: QmpClient;
  const events: QmpEvent[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'qmp-it-'));
    const socket = join(dir, 'qmp.sock');
    qemu = spawn('qemu-system-x86_64', [
      '-nodefaults', '-no-user-config', '-display', 'none', '-machine', 'q35', '-accel', accel(), '-m', '64M',
      '-chardev', `socket,id=qmp,path=${socket},server=on,wait=off`, '-mon', 'chardev=qmp,mode=control',
    ], { stdio: 'ignore' });
    for (let i = 0; i < 100 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 50));
    client = await QmpClient.connect(socket);
    client.on('event', (e) => events.push(e));
  });

  afterAll(() => {
    client?.close();
    qemu?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('greets with the QEMU version and answers query-status', async () => {
    expect(client.greeting?.QMP.version.qemu.major).toBeGreaterThanOrEqual(7);
    await expect(client.queryStatus()).resolves.toMatchObject({ running: true, status: 'running' });
  });

  it('pauses and resumes the guest, with STOP and RESUME events', async () => {
    await client.execute('stop');
    expect((await client.queryStatus()).status).toBe('paused');
    await client.execute('cont');
    expect((await client.queryStatus()).status).toBe('running');
    expect(events.map((e) => e.event)).toEqual(expect.arrayContaining(['STOP', 'RESUME']));
  });

  it('reports QEMU errors with their class', async () => {
    const error = await client.execute('device_del', { id: 'no-such-device' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QmpCommandError);
    expect((error as QmpCommandError).errorClass).toBe('DeviceNotFound');
  });

  it('sees QEMU exit on quit: SHUTDOWN, then every later call is rejected', async () => {
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    await client.execute('quit');
    await closed;
    expect(events.map((e) => e.event)).toContain('SHUTDOWN');
    await expect(client.queryStatus()).rejects.toBeInstanceOf(QmpDisconnectedError);
  });
});
