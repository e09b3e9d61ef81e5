import { Logger } from '@nestjs/common';
import { ConflictError, InternalError, PowerState, ValidationError } from '@nubo/contracts';
import { FakeQmpServer } from '@nubo/testing';
import { instancePaths } from './qemu-argv';
import { QemuBalloon } from './qemu-balloon';
import { QemuInstance, QemuInstances } from './qemu-instances';
import { QemuMonitor } from './qemu-monitor';

const serverId = '3f2e1d0c-9b8a-4766-9544-332211009988';
const MiB = 2 ** 20;

/** The parts of QemuInstances the balloon uses: the power state is what the test says it is. */
function instancesOf(instance: QemuInstance): QemuInstances {
  return {
    probe: async (i: QemuInstance) => ({ serverId: i.serverId, powerState: i.powerState }),
    monitorOf: async (i: QemuInstance) => i.monitor,
    get: (id: string) => (id === instance.serverId ? instance : undefined),
  } as unknown as QemuInstances;
}

describe(QemuBalloon.name, () => {
  let qmp: FakeQmpServer;
  let instance: QemuInstance;
  let balloon: QemuBalloon;
  let actual: number;

  beforeAll(() => Logger.overrideLogger(['error']));
  beforeEach(async () => {
    qmp = await new FakeQmpServer().start();
    actual = 512 * MiB;
    qmp.handlers['query-balloon'] = () => ({ return: { actual } });
    qmp.handlers.balloon = (args) => ((actual = Number(args?.value)), { return: {} });
    instance = {
      serverId,
      paths: instancePaths('/tmp/unused', serverId),
      spec: { serverId, vcpus: 1, ramMb: 512, diskGb: 0 },
      pid: 4242,
      monitor: await QemuMonitor.connect(qmp.path, serverId, { timeoutMs: 2_000 }),
      powerState: PowerState.Running,
      quiet: false,
    };
    balloon = new QemuBalloon(instancesOf(instance));
  });
  afterEach(async () => {
    instance.monitor?.close();
    await qmp.stop();
  });

  describe('info', () => {
    it.each([PowerState.Running, PowerState.Paused])('answers query-balloon and the spec RAM when %s', async (powerState) => {
      instance.powerState = powerState;
      await expect(balloon.info(instance)).resolves.toEqual({ actualBytes: 512 * MiB, maxBytes: 512 * MiB });
    });

    it.each([PowerState.Shutdown, PowerState.Suspended, PowerState.Crashed])('is a conflict when %s', async (powerState) => {
      instance.powerState = powerState;
      await expect(balloon.info(instance)).rejects.toBeInstanceOf(ConflictError);
      expect(qmp.received.map((m) => m.execute)).not.toContain('query-balloon');
    });

    it('is a conflict, not an internal error, when QEMU has no balloon device', async () => {
      qmp.handlers['query-balloon'] = () => ({ error: { class: 'DeviceNotActive', desc: 'No balloon device has been activated' } });
      await expect(balloon.info(instance)).rejects.toThrow(ConflictError);
      await expect(balloon.info(instance)).rejects.toThrow(/no balloon device/);
    });

    it('reports any other QMP failure as the operation that failed', async () => {
      qmp.handlers['query-balloon'] = () => ({ error: { class: 'GenericError', desc: 'boom' } });
      await expect(balloon.info(instance)).rejects.toMatchObject({ details: { operation: 'balloonInfo', serverId } });
      await expect(balloon.info(instance)).rejects.toBeInstanceOf(InternalError);
    });
  });

  describe('set', () => {
    it('sends QMP balloon with the value in bytes and remembers the target for this process', async () => {
      await expect(balloon.set(instance, 256 * MiB)).resolves.toEqual({ actualBytes: 256 * MiB, maxBytes: 512 * MiB, targetBytes: 256 * MiB });
      expect(qmp.received.find((m) => m.execute === 'balloon')?.arguments).toEqual({ value: 256 * MiB });
      await expect(balloon.info(instance)).resolves.toMatchObject({ targetBytes: 256 * MiB });
      instance.pid = 4243; // a new QEMU: its balloon is empty, the old target means nothing
      await expect(balloon.info(instance)).resolves.not.toHaveProperty('targetBytes');
    });

    it.each([127 * MiB, 513 * MiB, 0])('refuses %i bytes before sending anything', async (target) => {
      await expect(balloon.set(instance, target)).rejects.toBeInstanceOf(ValidationError);
      expect(qmp.received.map((m) => m.execute)).not.toContain('balloon');
    });

    it.each([PowerState.Paused, PowerState.Shutdown])('is a conflict when %s', async (powerState) => {
      instance.powerState = powerState;
      await expect(balloon.set(instance, 256 * MiB)).rejects.toBeInstanceOf(ConflictError);
      expect(qmp.received.map((m) => m.execute)).not.toContain('balloon');
    });

    it('is a conflict when QEMU goes away during the command', async () => {
      qmp.handlers.balloon = () => {
        setImmediate(() => qmp.hangUp());
        return 'silent';
      };
      await expect(balloon.set(instance, 256 * MiB)).rejects.toBeInstanceOf(ConflictError);
    });
  });
});
