/**
 * Interface hot-plug (Nova's attach_interface / detach_interface on libvirt, done over QMP).
 * Attach: `netdev_add` (a tap the host's network sync already made, no scripts, no vhost, as
 * the boot argv) and `device_add virtio-net-pci` on a free PCIe root port (qemu-nic-argv.ts),
 * then the NIC joins the stored spec so the next start boots with it. Detach: `device_del`, the
 * guest's DEVICE_DELETED awaited (bounded: a guest that never lets go fails the detach and keeps
 * the NIC), `netdev_del`, and the NIC leaves the stored spec. A stopped instance changes its spec
 * only. A NIC is found by its MAC (query-rx-filter), whatever its device id: booted NICs are
 * `nic<i>`, hot-plugged ones `nic-<tap>`. Both operations are idempotent.
 */
import { Logger } from '@nestjs/common';
import { ConflictError, InstanceSpec, NicSpec, PowerState } from '@nubo/contracts';
import { HypervisorError } from '../hypervisor-driver';
import { writeDurably } from './durable-files';
import { QemuInstance, QemuInstances } from './qemu-instances';
import { QemuMonitor } from './qemu-monitor';
import { ROOT_PORT_PREFIX } from './qemu-nic-argv';
import { isAlive } from './qemu-process';

export const DEFAULT_DETACH_TIMEOUT_MS = 30_000;

interface PciDevice {
  qdev_id?: string;
  pci_bridge?: { devices?: PciDevice[] };
}

/** Ids of a hot-plugged NIC, derived from its tap (itself derived from the port id). */
export function hotplugIds(tap: string): { device: string; netdev: string } {
  return { device: `nic-${tap}`, netdev: `net-${tap}` };
}

/** The first of our root ports (`rp-*`) with no device behind it, from query-pci; undefined when all are taken. Pure. */
export function freeRootPort(buses: Array<{ devices?: PciDevice[] }>): string | undefined {
  for (const bus of buses ?? []) {
    for (const device of bus.devices ?? []) {
      const id = device.qdev_id ?? '';
      if (id.startsWith(ROOT_PORT_PREFIX) && device.pci_bridge && (device.pci_bridge.devices ?? []).length === 0) return id;
    }
  }
  return undefined;
}

/** The device id of the NIC with this MAC, from query-rx-filter. Pure. */
export function nicByMac(filters: Array<{ name?: string; 'main-mac'?: string }>, mac: string): string | undefined {
  return (filters ?? []).find((f) => f['main-mac']?.toLowerCase() === mac.toLowerCase())?.name;
}

/** The spec with the NIC added (after the others) or removed, by MAC. Pure. */
export function withNic(spec: InstanceSpec, nic: NicSpec, present: boolean): InstanceSpec {
  const others = (spec.nics ?? []).filter((n) => n.mac !== nic.mac && n.tap !== nic.tap);
  const nics = present ? [...others, nic] : others;
  const { nics: _old, ...rest } = spec;
  return nics.length ? { ...rest, nics } : rest;
}

export class QemuInterfaces {
  private readonly logger = new Logger(QemuInterfaces.name);

  constructor(
    private readonly instances: QemuInstances,
    private readonly monitorOf: (op: string, instance: QemuInstance) => Promise<QemuMonitor>,
  ) {}

  async attach(instance: QemuInstance, nic: NicSpec): Promise<{ live: boolean }> {
    const spec = this.specOf('interface-attach', instance);
    await this.instances.probe(instance);
    if (instance.powerState === PowerState.Suspended) throw new ConflictError(`server ${instance.serverId} is suspended; resume it first`);
    if (!isAlive(instance.pid, instance.serverId)) {
      await this.store(instance, withNic(spec, nic, true));
      return { live: false };
    }
    const monitor = await this.monitorOf('interface-attach', instance);
    const ids = hotplugIds(nic.tap);
    if (!nicByMac(await monitor.execute('query-rx-filter'), nic.mac)) {
      try {
        await monitor.execute('netdev_add', { type: 'tap', id: ids.netdev, ifname: nic.tap, script: 'no', downscript: 'no', vhost: false });
      } catch (error) {
        // An earlier try that stopped after netdev_add left it: take it over.
        if (!/duplicate|already/i.test((error as Error).message)) throw new HypervisorError('interface-attach', instance.serverId, (error as Error).message);
      }
      const port = freeRootPort(await monitor.execute('query-pci'));
      try {
        if (!port) throw new ConflictError(`server ${instance.serverId} has no free PCIe slot for another interface`, { serverId: instance.serverId });
        await monitor.execute('device_add', {
          driver: 'virtio-net-pci',
          id: ids.device,
          netdev: ids.netdev,
          mac: nic.mac,
          bus: port,
          ...(nic.mtu ? { host_mtu: nic.mtu } : {}),
        });
      } catch (error) {
        await monitor.execute('netdev_del', { id: ids.netdev }).catch(() => undefined);
        if (error instanceof ConflictError) throw error;
        throw new HypervisorError('interface-attach', instance.serverId, (error as Error).message);
      }
      this.logger.log(`serverId=${instance.serverId}: NIC ${nic.mac} (${nic.tap}) plugged on ${port}`);
    }
    await this.store(instance, withNic(spec, nic, true));
    return { live: true };
  }

  async detach(instance: QemuInstance, nic: NicSpec, timeoutMs = DEFAULT_DETACH_TIMEOUT_MS): Promise<{ live: boolean }> {
    const spec = this.specOf('interface-detach', instance);
    await this.instances.probe(instance);
    if (instance.powerState === PowerState.Suspended) throw new ConflictError(`server ${instance.serverId} is suspended; resume it first`);
    if (!isAlive(instance.pid, instance.serverId)) {
      await this.store(instance, withNic(spec, nic, false));
      return { live: false };
    }
    const monitor = await this.monitorOf('interface-detach', instance);
    const device = nicByMac(await monitor.execute('query-rx-filter'), nic.mac);
    let netdev = hotplugIds(nic.tap).netdev;
    if (device) {
      netdev = await monitor
        .execute<string>('qom-get', { path: `/machine/peripheral/${device}`, property: 'netdev' })
        .catch(() => netdev);
      const watch = monitor.watchEvent('DEVICE_DELETED', (d) => d.device === device, timeoutMs);
      try {
        await monitor.execute('device_del', { id: device });
      } catch (error) {
        // A device_del of an earlier try is still pending: wait for it all the same.
        if (!/in the process of unplug|already/i.test((error as Error).message)) {
          watch.cancel();
          throw new HypervisorError('interface-detach', instance.serverId, (error as Error).message);
        }
      }
      if (!(await watch.arrived)) {
        throw new HypervisorError(
          'interface-detach',
          instance.serverId,
          `the guest did not release the interface ${nic.mac} within ${Math.round(timeoutMs / 1000)} s (DEVICE_DELETED); it stays attached`,
        );
      }
      this.logger.log(`serverId=${instance.serverId}: NIC ${nic.mac} (${device}) unplugged`);
    }
    // Gone already (or never plugged): a netdev left by a half-done attach or detach goes too.
    await monitor.execute('netdev_del', { id: netdev }).catch(() => undefined);
    await this.store(instance, withNic(spec, nic, false));
    return { live: true };
  }

  private specOf(op: string, instance: QemuInstance): InstanceSpec {
    if (!instance.spec) throw new HypervisorError(op, instance.serverId, 'its spec.json is missing');
    return instance.spec;
  }

  /** spec.json first (a crash after it leaves the file right), then the table. */
  private async store(instance: QemuInstance, spec: InstanceSpec): Promise<void> {
    await writeDurably(instance.paths.spec, `${JSON.stringify(spec, null, 2)}\n`);
    instance.spec = spec;
  }
}
