import { InstanceSpec } from '@nubo/contracts';
import { freeRootPort, hotplugIds, nicByMac, withNic } from './qemu-interfaces';
import { spareRootPortArgs } from './qemu-nic-argv';

const bridge = (qdev_id: string, devices: unknown[] = []) => ({ qdev_id, pci_bridge: { bus: {}, devices } });

describe('freeRootPort', () => {
  it.each([
    ['the first empty root port of ours', [{ devices: [{ qdev_id: '' }, bridge('rp-nic0', [{ qdev_id: 'nic0' }]), bridge('rp-hotplug0'), bridge('rp-hotplug1')] }], 'rp-hotplug0'],
    ['a NIC port emptied by a detach', [{ devices: [bridge('rp-nic0'), bridge('rp-hotplug0')] }], 'rp-nic0'],
    ['none when every port holds a device', [{ devices: [bridge('rp-hotplug0', [{ qdev_id: 'x' }])] }], undefined],
    ['none for bridges that are not ours', [{ devices: [bridge('other')] }], undefined],
    ['none for a device that is no bridge', [{ devices: [{ qdev_id: 'rp-hotplug0' }] }], undefined],
    ['none without buses', [], undefined],
  ])('finds %s', (_what, buses, expected) => {
    expect(freeRootPort(buses as never)).toBe(expected);
  });
});

describe('nicByMac', () => {
  const filters = [
    { name: 'nic0', 'main-mac': 'fa:16:3e:00:00:01' },
    { name: 'nic-nt-0123456789ab', 'main-mac': 'FA:16:3E:00:00:02' },
  ];
  it.each([
    ['fa:16:3e:00:00:01', 'nic0'],
    ['fa:16:3e:00:00:02', 'nic-nt-0123456789ab'],
    ['fa:16:3e:00:00:03', undefined],
  ])('finds the device of %s', (mac, expected) => {
    expect(nicByMac(filters, mac)).toBe(expected);
  });
});

describe('hotplugIds', () => {
  it('derives QEMU ids from the tap name', () => {
    expect(hotplugIds('nt-0123456789ab')).toEqual({ device: 'nic-nt-0123456789ab', netdev: 'net-nt-0123456789ab' });
  });
});

describe('withNic', () => {
  const base = { serverId: '3f2b8c1e-4d5a-4b6c-8d7e-9f0a1b2c3d4e', vcpus: 1, ramMb: 64, diskGb: 0 } as InstanceSpec;
  const a = { mac: 'fa:16:3e:00:00:01', tap: 'nt-aaaaaaaaaaaa' };
  const b = { mac: 'fa:16:3e:00:00:02', tap: 'nt-bbbbbbbbbbbb', mtu: 1450 };

  it.each([
    ['adds a NIC after the others', { ...base, nics: [a] }, b, true, [a, b]],
    ['adds nothing twice', { ...base, nics: [a, b] }, b, true, [a, b]],
    ['removes a NIC by MAC', { ...base, nics: [a, b] }, a, false, [b]],
    ['leaves no empty list behind', { ...base, nics: [a] }, a, false, undefined],
    ['adds to a spec without NICs', base, a, true, [a]],
  ])('%s', (_what, spec, nic, present, expected) => {
    expect(withNic(spec, nic, present).nics).toEqual(expected);
  });
});

describe('spareRootPortArgs', () => {
  it('numbers the spare ports after the NICs', () => {
    expect(spareRootPortArgs(2, 1)).toEqual(['-device', 'pcie-root-port,id=rp-hotplug0,chassis=2', '-device', 'pcie-root-port,id=rp-hotplug1,chassis=3']);
  });
  it.each([[-1], [1.5], [500]])('refuses %s ports', (count) => {
    expect(() => spareRootPortArgs(count, 0)).toThrow(/spare root ports/);
  });
});
