import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DhcpNaming } from './dhcp-names';
import { DesiredDhcpNetwork } from './dhcp-types';
import { planNetwork } from './dhcp-values';
import { DHCP_PORT, PORT_1, SUBNET_A, SUBNET_B, SUBNET_C, desiredNetwork } from './dhcp-fixtures';
import { dnsmasqArgv, filesOf, renderHosts, renderOpts } from './dnsmasq-config';

/** Compares with a golden file; UPDATE_GOLDEN=1 rewrites it (review the diff before committing). */
function expectGolden(text: string, name: string): void {
  const file = join(__dirname, '__golden__', `${name}.dnsmasq`);
  if (process.env.UPDATE_GOLDEN) writeFileSync(file, text);
  expect(text).toBe(readFileSync(file, 'utf8'));
}

/** argv one per line, then the hosts and opts files, as dnsmasq would get them. */
function rendered(network: DesiredDhcpNetwork): string {
  const plan = planNetwork(network, new DhcpNaming());
  const argv = dnsmasqArgv(plan, filesOf('/var/lib/nubo/dhcp', plan.names.namespace), 86_400);
  return `# argv\n${argv.join('\n')}\n# hosts\n${renderHosts(plan)}# opts\n${renderOpts(plan)}`;
}

const hasDnsmasq = (() => {
  try {
    execFileSync('dnsmasq', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe('dnsmasq config', () => {
  it.each<[string, DesiredDhcpNetwork]>([
    ['one-subnet', desiredNetwork()],
    ['no-gateway-no-dns', desiredNetwork({
      mtu: 1500,
      subnets: [{ id: SUBNET_A, cidr: '10.0.0.0/24', gatewayIp: null, dnsNameservers: [], hostRoutes: [], enableDhcp: true }],
    })],
    ['host-routes-two-subnets', desiredNetwork({
      dhcpPort: { id: DHCP_PORT, mac: 'fa:16:3e:00:00:0d', ipAddresses: ['10.0.0.2', '172.16.0.2', '192.168.9.9'] },
      subnets: [
        { id: SUBNET_B, cidr: '172.16.0.0/20', gatewayIp: null, dnsNameservers: ['192.0.2.53', '198.51.100.53'], hostRoutes: [], enableDhcp: true },
        { id: SUBNET_A, cidr: '10.0.0.0/24', gatewayIp: '10.0.0.1', dnsNameservers: [], enableDhcp: true,
          hostRoutes: [{ destination: '10.20.0.0/16', nexthop: '10.0.0.254' }, { destination: '10.30.1.7/24', nexthop: '10.0.0.253' }] },
        { id: SUBNET_C, cidr: '192.168.9.0/24', gatewayIp: '192.168.9.1', dnsNameservers: [], hostRoutes: [], enableDhcp: false },
      ],
      leases: [
        { portId: PORT_1, mac: 'fa:16:3e:00:00:01', ipAddress: '10.0.0.5' },
        { portId: PORT_1, mac: 'fa:16:3e:00:00:01', ipAddress: '172.16.3.4' },
        { portId: PORT_1, mac: 'fa:16:3e:00:00:01', ipAddress: '192.168.9.5' },
      ],
    })],
  ])('renders %s', (name, network) => expectGolden(rendered(network), name));

  it('puts only what a restart needs in argv: changing leases or options leaves it as it was', () => {
    const naming = new DhcpNaming();
    const argvOf = (n: DesiredDhcpNetwork) => {
      const plan = planNetwork(n, naming);
      return dnsmasqArgv(plan, filesOf('/s', plan.names.namespace), 600);
    };
    const base = desiredNetwork();
    const changed = desiredNetwork({
      mtu: 1400,
      leases: [{ portId: PORT_1, mac: 'fa:16:3e:00:00:09', ipAddress: '10.0.0.77' }],
      subnets: [{ ...base.subnets[0], gatewayIp: '10.0.0.254', dnsNameservers: [], hostRoutes: [{ destination: '0.0.0.0/0', nexthop: '10.0.0.1' }] }],
    });
    expect(argvOf(changed)).toEqual(argvOf(base));
    expect(argvOf(desiredNetwork({ subnets: [{ ...base.subnets[0], cidr: '10.0.0.0/23' }] }))).not.toEqual(argvOf(base));
  });

  (hasDnsmasq ? it : it.skip)('is accepted by dnsmasq itself (--test, each file line as its command-line twin)', () => {
    const plan = planNetwork(desiredNetwork({ subnets: [{ ...desiredNetwork().subnets[0], hostRoutes: [{ destination: '10.20.0.0/16', nexthop: '10.0.0.254' }] }] }), new DhcpNaming());
    const lines = (text: string) => text.trimEnd().split('\n');
    const args = [...lines(renderHosts(plan)).map((l) => `--dhcp-host=${l}`), ...lines(renderOpts(plan)).map((l) => `--dhcp-option=${l}`)];
    expect(execFileSync('dnsmasq', ['--conf-file=/dev/null', '--test', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })).toBe('');
    expect(() => execFileSync('dnsmasq', ['--conf-file=/dev/null', '--test', '--dhcp-option=tag:x,option:router,10.0.0.1,zz'], { stdio: 'pipe' })).toThrow();
  });
});
