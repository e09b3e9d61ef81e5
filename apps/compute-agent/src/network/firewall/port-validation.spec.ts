import { ValidationError } from '@nubo/contracts';
import { PortFirewallSpec, SecurityGroupRuleSpec } from './firewall-spec';
import { validatePort, validateRule } from './port-validation';

const base: PortFirewallSpec = {
  portId: '6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f', tap: 'nt-6f1c2d3e4a5b', mac: 'fa:16:3e:00:00:01',
  fixedIps: ['10.0.0.5'], portSecurityEnabled: true, rules: [],
};

function fieldOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    if (error instanceof ValidationError) return error.details.field as string;
    throw error;
  }
  return undefined;
}

describe(validateRule.name, () => {
  it.each<[string, Partial<SecurityGroupRuleSpec>, unknown]>([
    ['any protocol', {}, { kind: 'any' }],
    ['tcp 22', { protocol: 'tcp', port_range_min: 22, port_range_max: 22 }, { kind: 'ports', protocol: 'tcp', min: 22, max: 22 }],
    ['TCP by number, min only', { protocol: '6', port_range_min: 80 }, { kind: 'ports', protocol: 'tcp', min: 80, max: 80 }],
    ['udp range', { protocol: 17, port_range_min: 1000, port_range_max: 2000 }, { kind: 'ports', protocol: 'udp', min: 1000, max: 2000 }],
    ['tcp without ports', { protocol: 'tcp' }, { kind: 'protocol', number: 6 }],
    ['icmp type and code', { protocol: 'icmp', port_range_min: 8, port_range_max: 0 }, { kind: 'icmp', type: 8, code: 0 }],
    ['icmp type only', { protocol: 'icmp', port_range_min: 3 }, { kind: 'icmp', type: 3, code: undefined }],
    ['icmp any', { protocol: 'ICMP' }, { kind: 'protocol', number: 1 }],
    ['gre', { protocol: 'gre' }, { kind: 'protocol', number: 47 }],
    ['any, spelled out', { protocol: 'any' }, { kind: 'any' }],
  ])('reads %s', (_name, fields, l4) => {
    expect(validateRule({ direction: 'ingress', ethertype: 'IPv4', ...fields }, 'rules[0]')?.l4).toEqual(l4);
  });

  it('reads icmp on IPv6 as icmpv6 (58), as Neutron does', () => {
    expect(validateRule({ direction: 'egress', ethertype: 'IPv6', protocol: 'icmp' }, 'r')?.l4).toEqual({ kind: 'protocol', number: 58 });
  });

  it.each<[string, Partial<SecurityGroupRuleSpec>, string]>([
    ['bad direction', { direction: 'sideways' as never }, 'rules[2].direction'],
    ['bad ethertype', { ethertype: 'IPX' as never }, 'rules[2].ethertype'],
    ['unknown protocol', { protocol: 'tcp; drop' }, 'rules[2].protocol'],
    ['protocol out of range', { protocol: 256 }, 'rules[2].protocol'],
    ['icmpv6 on IPv4', { protocol: 'icmpv6' }, 'rules[2].protocol'],
    ['port 0', { protocol: 'tcp', port_range_min: 0 }, 'rules[2].port_range_min'],
    ['port past 65535', { protocol: 'udp', port_range_min: 1, port_range_max: 65536 }, 'rules[2].port_range_max'],
    ['port as text', { protocol: 'tcp', port_range_min: '22' as never }, 'rules[2].port_range_min'],
    ['max below min', { protocol: 'tcp', port_range_min: 30, port_range_max: 20 }, 'rules[2].port_range_max'],
    ['max without min', { protocol: 'tcp', port_range_max: 20 }, 'rules[2].port_range_min'],
    ['ports without protocol', { port_range_min: 22 }, 'rules[2].port_range_min'],
    ['ports on gre', { protocol: 'gre', port_range_min: 22 }, 'rules[2].port_range_min'],
    ['icmp code without type', { protocol: 'icmp', port_range_max: 0 }, 'rules[2].port_range_max'],
    ['icmp type past 255', { protocol: 'icmp', port_range_min: 256 }, 'rules[2].port_range_min'],
    ['IPv6 prefix on an IPv4 rule', { remote_ip_prefix: '2001:db8::/32' }, 'rules[2].remote_ip_prefix'],
    ['hostile prefix', { remote_ip_prefix: '0.0.0.0/0 accept; }' }, 'rules[2].remote_ip_prefix'],
    ['prefix and group', { remote_ip_prefix: '10.0.0.0/8', remote_group_prefixes: [] }, 'rules[2].remote_ip_prefix'],
    ['hostile group member', { remote_group_prefixes: ['10.0.0.1', '10.0.0.2"'] }, 'rules[2].remote_group_prefixes[1]'],
    ['group not a list', { remote_group_prefixes: '10.0.0.1' as never }, 'rules[2].remote_group_prefixes'],
  ])('refuses %s, naming %s', (_name, fields, field) => {
    expect(fieldOf(() => validateRule({ direction: 'ingress', ethertype: 'IPv4', ...fields } as SecurityGroupRuleSpec, 'rules[2]'))).toBe(field);
  });

  it('keeps only the members of the rule family and drops a rule whose group has none', () => {
    const rule = (prefixes: string[]) => validateRule({ direction: 'ingress', ethertype: 'IPv6', remote_group_prefixes: prefixes }, 'r');
    expect(rule(['10.0.0.1', '2001:db8::1'])?.remote?.map((p) => p.text)).toEqual(['2001:db8::1']);
    expect(rule(['10.0.0.1'])).toBeNull();
    expect(rule([])).toBeNull();
  });

  it('treats a /0 prefix as any remote', () => {
    expect(validateRule({ direction: 'ingress', ethertype: 'IPv4', remote_ip_prefix: '0.0.0.0/0' }, 'r')?.remote).toBeUndefined();
  });
});

describe(validatePort.name, () => {
  it.each<[string, Partial<PortFirewallSpec>, string]>([
    ['bad tap', { tap: 'tap"0' }, 'tap'],
    ['bad port id', { portId: 'port-1' }, 'portId'],
    ['bad bridge', { bridge: 'br"0' }, 'bridge'],
    ['missing flag', { portSecurityEnabled: 'yes' as never }, 'portSecurityEnabled'],
    ['multicast MAC', { mac: '01:00:5e:00:00:01' }, 'mac'],
    ['network as fixed IP', { fixedIps: ['10.0.0.0/24'] }, 'fixedIps[0]'],
    ['bad pair MAC', { allowedAddressPairs: [{ ip_address: '10.0.0.9', mac_address: 'nope' }] }, 'allowedAddressPairs[0].mac_address'],
    ['bad pair address', { allowedAddressPairs: [{ ip_address: '10.0.0.9' }, { ip_address: '10.0.0.300' }] }, 'allowedAddressPairs[1].ip_address'],
    ['bad rule', { rules: [{ direction: 'ingress', ethertype: 'IPv4' }, { direction: 'ingress', ethertype: 'IPv4', protocol: 'tcp', port_range_min: -1 }] }, 'rules[1].port_range_min'],
    ['rules not a list', { rules: {} as never }, 'rules'],
  ])('refuses %s, naming %s', (_name, fields, field) => {
    expect(fieldOf(() => validatePort({ ...base, ...fields }))).toBe(field);
  });

  it('allows the port MAC with its fixed IPs, the pairs with their MACs, and each MAC link-local', () => {
    const port = validatePort({ ...base, fixedIps: ['10.0.0.5', { ip_address: '10.0.0.5' }], allowedAddressPairs: [
      { ip_address: '10.0.0.0/24' }, { ip_address: '192.0.2.1', mac_address: 'FA:16:3E:00:00:99' },
    ] });
    expect(port.macs).toEqual(['fa:16:3e:00:00:01', 'fa:16:3e:00:00:99']);
    expect(port.sources.map((source) => `${source.mac} ${source.prefix.text}`)).toEqual([
      'fa:16:3e:00:00:01 10.0.0.0/24', 'fa:16:3e:00:00:01 fe80::f816:3eff:fe00:1',
      'fa:16:3e:00:00:99 192.0.2.1', 'fa:16:3e:00:00:99 fe80::f816:3eff:fe00:99',
    ]);
  });

  it('does not look at addresses or rules of a port without port security', () => {
    const port = validatePort({ ...base, portSecurityEnabled: false, fixedIps: ['garbage'], rules: [{ direction: 'x' } as never] });
    expect(port).toMatchObject({ portSecurityEnabled: false, sources: [], rules: [] });
  });
});
