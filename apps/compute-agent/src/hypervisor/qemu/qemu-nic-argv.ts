/**
 * Network interfaces: each a virtio-net on a tap device the host already has (made by the
 * network side, owned by QEMU's user when QEMU runs unprivileged). QEMU runs no scripts. MACs and
 * tap names are validated (instance-spec.ts) to characters that need no escaping; NICs boot after
 * the disks.
 */
import { NicSpec } from '@nubo/contracts';

export function nicArgs(nics: NicSpec[] | undefined, firstBootIndex: number): string[] {
  return (nics ?? []).flatMap((nic, i) => [
    '-netdev', `tap,id=net${i},ifname=${nic.tap},script=no,downscript=no`,
    '-device', `virtio-net-pci,netdev=net${i},mac=${nic.mac},id=nic${i}${nic.mtu ? `,host_mtu=${nic.mtu}` : ''},bootindex=${firstBootIndex + i}`,
  ]);
}
