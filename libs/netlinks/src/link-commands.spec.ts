import { LinkOp } from './data-plane-types';
import { describeOp, opCommand } from './link-commands';

describe('link-commands', () => {
  it.each<[LinkOp, string, string]>([
    [{ op: 'delete', name: 'nt-11111111aaaa', reason: 'not desired' }, 'ip link del dev nt-11111111aaaa', 'delete nt-11111111aaaa (not desired)'],
    [{ op: 'create-bridge', name: 'nb-aaaaaaaa1111' }, 'ip link add name nb-aaaaaaaa1111 type bridge', 'create bridge nb-aaaaaaaa1111'],
    [{ op: 'create-vxlan', name: 'nv-aaaaaaaa1111', vni: 7801, local: '10.78.0.1', port: 4789 },
      'ip link add name nv-aaaaaaaa1111 type vxlan id 7801 local 10.78.0.1 dstport 4789 nolearning',
      'create vxlan nv-aaaaaaaa1111 (VNI 7801, local 10.78.0.1:4789)'],
    [{ op: 'create-vxlan', name: 'nv-aaaaaaaa1111', vni: 7801, local: '10.78.0.1', port: 4789, device: 'ul0' },
      'ip link add name nv-aaaaaaaa1111 type vxlan id 7801 local 10.78.0.1 dstport 4789 nolearning dev ul0',
      'create vxlan nv-aaaaaaaa1111 (VNI 7801, local 10.78.0.1:4789 dev ul0)'],
    [{ op: 'create-vlan', name: 'nl-cccccccc4444', parent: 'eth2', vlanId: 101 },
      'ip link add link eth2 name nl-cccccccc4444 type vlan id 101', 'create vlan nl-cccccccc4444 (id 101 on eth2)'],
    [{ op: 'create-tap', name: 'nt-11111111aaaa', owner: 'nubo-qemu' }, 'ip tuntap add dev nt-11111111aaaa mode tap user nubo-qemu',
      'create tap nt-11111111aaaa (user nubo-qemu)'],
    [{ op: 'create-tap', name: 'nt-11111111aaaa' }, 'ip tuntap add dev nt-11111111aaaa mode tap', 'create tap nt-11111111aaaa'],
    [{ op: 'set', name: 'nt-11111111aaaa', address: 'fe:16:3e:00:00:01', mtu: 1450, master: 'nb-aaaaaaaa1111', up: true },
      'ip link set dev nt-11111111aaaa address fe:16:3e:00:00:01 mtu 1450 master nb-aaaaaaaa1111 up',
      'set nt-11111111aaaa address fe:16:3e:00:00:01 mtu 1450 master nb-aaaaaaaa1111 up'],
    [{ op: 'set', name: 'eth1', master: 'nb-ffffffff3333' }, 'ip link set dev eth1 master nb-ffffffff3333', 'set eth1 master nb-ffffffff3333'],
    [{ op: 'fdb-add', device: 'nv-aaaaaaaa1111', mac: '00:00:00:00:00:00', dst: '10.78.0.2' },
      'bridge fdb append 00:00:00:00:00:00 dev nv-aaaaaaaa1111 dst 10.78.0.2 self permanent', 'add fdb 00:00:00:00:00:00 dst 10.78.0.2 on nv-aaaaaaaa1111'],
    [{ op: 'fdb-del', device: 'nv-aaaaaaaa1111', mac: '00:00:00:00:00:00', dst: '10.78.0.2' },
      'bridge fdb del 00:00:00:00:00:00 dev nv-aaaaaaaa1111 dst 10.78.0.2 self', 'delete fdb 00:00:00:00:00:00 dst 10.78.0.2 on nv-aaaaaaaa1111'],
  ])('%j runs `%s`', (op, command, description) => {
    const { file, args } = opCommand(op);
    expect([file, ...args].join(' ')).toBe(command);
    expect(describeOp(op)).toBe(description);
  });

  it('runs every command inside the namespace with -n', () => {
    expect(opCommand({ op: 'create-tap', name: 'nt-11111111aaaa' }, 'nubo-h1')).toEqual({ file: 'ip', args: ['-n', 'nubo-h1', 'tuntap', 'add', 'dev', 'nt-11111111aaaa', 'mode', 'tap'] });
    expect(opCommand({ op: 'fdb-del', device: 'nv-a', mac: '00:00:00:00:00:00', dst: '10.0.0.1' }, 'nubo-h1').args.slice(0, 3)).toEqual(['-n', 'nubo-h1', 'fdb']);
  });
});
