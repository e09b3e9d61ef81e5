import { LinkOpError } from './data-plane-errors';
import { DesiredDataPlane } from './data-plane-types';
import { CommandRunner, HostLinks } from './index';
import { LinkCommand } from './link-commands';

const NET = 'aaaaaaaa-1111-4111-8111-000000000001';
const PORT = '11111111-aaaa-4aaa-8aaa-000000000001';
const desired: DesiredDataPlane = {
  underlayAddress: '10.78.0.1',
  networks: [{ id: NET, type: 'vxlan', segmentationId: 7801, peers: ['10.78.0.2'] }],
  ports: [{ id: PORT, networkId: NET, mac: 'fa:16:3e:00:00:01' }],
};
const NO_PROC = '/nonexistent/nubo-vlan';

/** A runner that answers reads from fixed JSON and records every command; `fail` rejects matching ones. */
function fakeRunner(links: unknown[] = [], fdb: unknown[] = [], fail?: (line: string) => string | undefined) {
  const lines: string[] = [];
  const run: CommandRunner = async ({ file, args }: LinkCommand) => {
    const line = [file, ...args].join(' ');
    lines.push(line);
    const stderr = fail?.(line);
    if (stderr) throw Object.assign(new Error(`Command failed: ${line}`), { stderr });
    await new Promise((resolve) => setImmediate(resolve));
    if (args.includes('-json')) return JSON.stringify(file === 'ip' ? links : fdb);
    return '';
  };
  return { run, lines };
}

describe(HostLinks.name, () => {
  describe('converge', () => {
    it('reads the namespace, then runs each planned operation there in order', async () => {
      const { run, lines } = fakeRunner();
      const plan = await new HostLinks({ netns: 'nbt-h1', run, kernel: { vlan: false } }).converge(desired);
      expect(plan.ops).toHaveLength(7);
      expect(lines).toEqual([
        'ip -n nbt-h1 -json -details link show',
        'bridge -n nbt-h1 -json fdb show',
        'ip -n nbt-h1 link add name nb-aaaaaaaa1111 type bridge',
        'ip -n nbt-h1 link add name nv-aaaaaaaa1111 type vxlan id 7801 local 10.78.0.1 dstport 4789 nolearning',
        'ip -n nbt-h1 tuntap add dev nt-11111111aaaa mode tap',
        'ip -n nbt-h1 link set dev nb-aaaaaaaa1111 mtu 1450 up',
        'ip -n nbt-h1 link set dev nv-aaaaaaaa1111 mtu 1450 master nb-aaaaaaaa1111 up',
        'ip -n nbt-h1 link set dev nt-11111111aaaa address fe:16:3e:00:00:01 mtu 1450 master nb-aaaaaaaa1111 up',
        'bridge -n nbt-h1 fdb append 00:00:00:00:00:00 dev nv-aaaaaaaa1111 dst 10.78.0.2 self permanent',
      ]);
    });

    it('stops at the first failing operation with an error naming it and what ip said', async () => {
      const { run, lines } = fakeRunner([], [], (line) => (line.includes('type vxlan') ? 'RTNETLINK answers: File exists\n' : undefined));
      const error = await new HostLinks({ netns: 'nbt-h1', run, kernel: { vlan: false } }).converge(desired).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(LinkOpError);
      expect((error as LinkOpError).message).toBe(
        'host data plane: create vxlan nv-aaaaaaaa1111 (VNI 7801, local 10.78.0.1:4789) in netns nbt-h1 failed: RTNETLINK answers: File exists');
      expect((error as LinkOpError).op).toEqual({ op: 'create-vxlan', name: 'nv-aaaaaaaa1111', vni: 7801, local: '10.78.0.1', port: 4789 });
      expect(lines.filter((line) => line.includes('tuntap'))).toEqual([]);
    });

    it('runs one converge at a time: the second reads the host after the first applied', async () => {
      const { run, lines } = fakeRunner();
      const links = new HostLinks({ run, kernel: { vlan: false } });
      await Promise.all([links.converge(desired), links.converge(desired)]);
      const reads = lines.map((line, i) => (line.startsWith('ip -json') ? i : -1)).filter((i) => i >= 0);
      expect(reads).toEqual([0, 9]);
    });

    it('still runs the next converge after one failed', async () => {
      const { run } = fakeRunner([], [], (line) => (line.includes('type bridge') ? 'boom' : undefined));
      const links = new HostLinks({ run, kernel: { vlan: false } });
      await expect(links.converge(desired)).rejects.toThrow(LinkOpError);
      await expect(links.converge({ networks: [], ports: [] })).resolves.toEqual({ ops: [], refused: [] });
    });
  });

  describe('kernelFeatures', () => {
    it.each<[string, string | undefined, boolean]>([
      ['a kernel without the vlan link type', 'Error: Unknown device type.\n', false],
      ['an old iproute2 saying EOPNOTSUPP', 'RTNETLINK answers: Operation not supported\n', false],
      ['a kernel with it, refusing a VLAN without parent', 'Error: 8021q: link not specified.\n', true],
    ])('probes %s', async (_, stderr, vlan) => {
      const { run, lines } = fakeRunner([], [], (line) => (line.includes('type vlan') ? stderr : undefined));
      const links = new HostLinks({ netns: 'nbt-h1', run, vlanProcPath: NO_PROC });
      expect(await links.kernelFeatures()).toEqual({ vlan });
      expect(await links.kernelFeatures()).toEqual({ vlan });
      expect(lines).toEqual(['ip -n nbt-h1 link add name nubo-vlanprobe type vlan id 1']);
    });

    it('deletes the probe device when the kernel made it', async () => {
      const { run, lines } = fakeRunner();
      expect(await new HostLinks({ run, vlanProcPath: NO_PROC }).kernelFeatures()).toEqual({ vlan: true });
      expect(lines).toEqual(['ip link add name nubo-vlanprobe type vlan id 1', 'ip link del dev nubo-vlanprobe']);
    });
  });

  describe('leaks', () => {
    it('lists our devices and their remote FDB entries, nothing foreign', async () => {
      const { run } = fakeRunner(
        [{ ifname: 'eth0', mtu: 1500, flags: [] }, { ifname: 'nb-aaaaaaaa1111', mtu: 1450, flags: [] }, { ifname: 'nb-test', mtu: 1500, flags: [] }],
        [{ mac: '00:00:00:00:00:00', ifname: 'nv-aaaaaaaa1111', dst: '10.78.0.2' }, { mac: '00:00:00:00:00:00', ifname: 'vx0', dst: '10.0.0.2' }],
      );
      expect(await new HostLinks({ run, kernel: { vlan: false } }).leaks()).toEqual([
        { kind: 'link', name: 'nb-aaaaaaaa1111', role: 'bridge' },
        { kind: 'fdb', device: 'nv-aaaaaaaa1111', mac: '00:00:00:00:00:00', dst: '10.78.0.2' },
      ]);
    });
  });

  it('refuses a namespace name ip could misread', () => {
    expect(() => new HostLinks({ netns: '-n x' })).toThrow('bad netns name');
  });
});
