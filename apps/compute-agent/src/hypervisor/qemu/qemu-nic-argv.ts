/**
 * Network interfaces: each a virtio-net on a tap device the host already has (made by the
 * network side, owned by QEMU's user when QEMU runs unprivileged). QEMU runs no scripts. MACs and
 * tap names are validated (instance-spec.ts) to characters that need no escaping; NICs boot after
 * the disks.
 *
 * PCIe hotplug: q35's root bus (pcie.0) takes no hotplug, so each NIC sits on its own
 * `pcie-root-port` (as libvirt does; it can be unplugged later) and `spare` empty root ports
 * follow for NICs hot-plugged while the guest runs (qemu-interfaces.ts). Chassis numbers are
 * unique per port: QEMU refuses two root ports with the same chassis and slot.
 */
import { NicSpec } from '@nubo/contracts';

/** Default number of empty root ports for hot-plugged devices (NUBO_AGENT_HOTPLUG_PORTS). */
export const DEFAULT_SPARE_ROOT_PORTS = 4;
/** Ids of the root ports: the NICs' own and the spares'. Any of them without a device is free. */
export const ROOT_PORT_PREFIX = 'rp-';
export const nicRootPort = (i: number) => `${ROOT_PORT_PREFIX}nic${i}`;
export const spareRootPort = (i: number) => `${ROOT_PORT_PREFIX}hotplug${i}`;

export function nicArgs(nics: NicSpec[] | undefined, firstBootIndex: number): string[] {
  return (nics ?? []).flatMap((nic, i) => [
    '-device', `pcie-root-port,id=${nicRootPort(i)},chassis=${i + 1}`,
    '-netdev', `tap,id=net${i},ifname=${nic.tap},script=no,downscript=no`,
    '-device', `virtio-net-pci,netdev=net${i},mac=${nic.mac},id=nic${i}${nic.mtu ? `,host_mtu=${nic.mtu}` : ''},bus=${nicRootPort(i)},bootindex=${firstBootIndex + i}`,
  ]);
}

/** `count` empty root ports, numbered after the NICs' chassis. */
export function spareRootPortArgs(count: number, nicCount: number): string[] {
  if (!Number.isInteger(count) || count < 0 || count + nicCount > 200) throw new Error(`spare root ports must be an integer from 0 to ${200 - nicCount}`);
  return Array.from({ length: count }, (_, i) => ['-device', `pcie-root-port,id=${spareRootPort(i)},chassis=${nicCount + i + 1}`]).flat();
}
