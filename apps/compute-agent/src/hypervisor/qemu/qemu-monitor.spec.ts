import { Logger } from '@nestjs/common';
import { PowerState } from '@nubo/contracts';
import { FakeQmpServer } from '@nubo/testing';
import { QemuMonitor, powerStateOf } from './qemu-monitor';

const id = '1e2d3c4b-5a69-4788-9a0b-1c2d3e4f5a6b';

describe(QemuMonitor.name, () => {
  let qmp: FakeQmpServer;
  let monitor: QemuMonitor | undefined;

  beforeAll(() => Logger.overrideLogger(['error']));
  beforeEach(async () => {
    qmp = await new FakeQmpServer().start();
  });
  afterEach(async () => {
    monitor?.close();
    monitor = undefined;
    await qmp.stop();
  });

  describe('connect', () => {
    it('gives up as soon as the process has exited', async () => {
      const started = Date.now();
      await expect(
        QemuMonitor.connect('/nonexistent/qmp.sock', id, { timeoutMs: 5_000, exited: () => ({ code: 1, signal: null }) }),
      ).rejects.toThrow(/QEMU exited \(code 1/);
      expect(Date.now() - started).toBeLessThan(1_000);
    });

    it('times out when the socket never appears', async () => {
      await expect(QemuMonitor.connect('/nonexistent/qmp.sock', id, { timeoutMs: 200 })).rejects.toThrow(/did not answer within 200 ms/);
    });
  });

  describe('events', () => {
    it.each([
      ['SHUTDOWN', { guest: true, reason: 'guest-shutdown' }, PowerState.Shutdown, 'SHUTDOWN:guest-shutdown', 'shutdown', 'guest-shutdown'],
      ['SHUTDOWN', { guest: true, reason: 'guest-panic' }, PowerState.Shutdown, 'SHUTDOWN:guest-panic', 'shutdown', 'guest-panic'],
      ['STOP', {}, PowerState.Paused, 'STOP', 'paused', undefined],
      ['RESUME', {}, PowerState.Running, 'RESUME', 'running', undefined],
      ['RESET', { guest: true, reason: 'guest-reset' }, PowerState.Running, 'RESET:guest-reset', undefined, 'guest-reset'],
      ['GUEST_PANICKED', { action: 'pause' }, PowerState.Crashed, 'GUEST_PANICKED', 'guest-panicked', 'pause'],
    ])('maps %s %j to a power state', async (event, data, powerState, reason, runState, eventReason) => {
      monitor = await QemuMonitor.connect(qmp.path, id, { timeoutMs: 2_000 });
      const seen = new Promise((resolve) => monitor!.once('power', resolve));
      qmp.emitEvent(event, data);
      await expect(seen).resolves.toEqual({
        powerState,
        reason,
        event,
        ...(runState ? { runState } : {}),
        ...(eventReason ? { eventReason } : {}),
      });
    });

    it('does not take the STOP that follows a guest panic for a pause', async () => {
      monitor = await QemuMonitor.connect(qmp.path, id, { timeoutMs: 2_000 });
      const events: string[] = [];
      monitor.on('power', (e) => events.push(e.reason));
      qmp.emitEvent('GUEST_PANICKED', { action: 'poweroff' });
      qmp.emitEvent('STOP', {});
      qmp.emitEvent('SHUTDOWN', { guest: true, reason: 'guest-panic' });
      await monitor.queryStatus();
      expect(events).toEqual(['GUEST_PANICKED', 'SHUTDOWN:guest-panic']);
    });

    it('ignores events that are not about power', async () => {
      monitor = await QemuMonitor.connect(qmp.path, id, { timeoutMs: 2_000 });
      const power = jest.fn();
      monitor.on('power', power);
      qmp.emitEvent('NIC_RX_FILTER_CHANGED', {});
      await monitor.queryStatus();
      expect(power).not.toHaveBeenCalled();
    });

    it('reports the end of the connection', async () => {
      monitor = await QemuMonitor.connect(qmp.path, id, { timeoutMs: 2_000 });
      const closed = new Promise<void>((resolve) => monitor!.once('closed', resolve));
      qmp.hangUp();
      await closed;
      expect(monitor.isConnected).toBe(false);
    });
  });

  describe('quit', () => {
    it('treats a hang-up instead of an answer as success', async () => {
      qmp.handlers.quit = () => 'silent';
      monitor = await QemuMonitor.connect(qmp.path, id, { timeoutMs: 2_000 });
      setTimeout(() => qmp.hangUp(), 20);
      await expect(monitor.quit(1_000)).resolves.toBeUndefined();
    });
  });
});

describe('powerStateOf', () => {
  it.each([
    ['running', PowerState.Running],
    ['paused', PowerState.Paused],
    ['inmigrate', PowerState.Paused],
    ['postmigrate', PowerState.Paused],
    ['shutdown', PowerState.Shutdown],
    ['guest-panicked', PowerState.Crashed],
    ['internal-error', PowerState.Crashed],
  ])('maps run state %s to %s', (status, expected) => {
    expect(powerStateOf({ running: status === 'running', status })).toBe(expected);
  });
});
