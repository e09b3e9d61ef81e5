/** Picks the hypervisor driver from configuration. */
import { Accelerator, HypervisorDriver } from './hypervisor-driver';
import { FakeDriver } from './fake/fake.driver';
import { AcceleratorMode, resolveAccelerator } from './qemu/accelerator';
import { QemuDriver } from './qemu/qemu.driver';

export interface DriverSettings {
  driver: 'qemu' | 'fake';
  stateDir: string;
  accel: AcceleratorMode;
  netns?: string;
  qemuBinary: string;
  /** The user QEMU runs as ('' for none; absent for the default, see qemu-user.ts). */
  qemuUser?: string;
  /** Empty PCIe root ports per QEMU for hot-plugged NICs (default 4). */
  hotplugPorts?: number;
  /** The cloud's shared storage as mounted here (NUBO_AGENT_SHARED_STORAGE_DIR). */
  sharedDir?: string;
}

export function createDriver(settings: DriverSettings): HypervisorDriver {
  const accelerator: Accelerator = resolveAccelerator(settings.accel);
  if (settings.driver === 'fake') return new FakeDriver({ accelerator });
  return new QemuDriver({
    stateDir: settings.stateDir,
    accelerator,
    netns: settings.netns,
    qemuBinary: settings.qemuBinary,
    qemuUser: settings.qemuUser,
    hotplugPorts: settings.hotplugPorts,
    sharedDir: settings.sharedDir,
  });
}
