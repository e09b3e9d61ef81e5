import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PortFirewallSpec, SecurityGroupRuleSpec } from './firewall-spec';
import { compileRuleset } from './nft-ruleset';

/** Compares with a golden file; UPDATE_GOLDEN=1 rewrites it (review the diff before committing). */
function expectGolden(text: string, name: string): void {
  const file = join(__dirname, '__golden__', `${name}.nft`);
  if (process.env.UPDATE_GOLDEN) writeFileSync(file, text);
  expect(text).toBe(readFileSync(file, 'utf8'));
}

const PORT_ID = '6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f';
const OTHER_ID = '11111111-2222-4333-8444-555555555555';

function port(overrides: Partial<PortFirewallSpec> = {}): PortFirewallSpec {
  return {
    portId: PORT_ID, tap: 'nt-6f1c2d3e4a5b', bridge: 'nb-0a1b2c3d4e5f', mac: 'FA:16:3E:00:00:01', fixedIps: ['10.0.0.5', { ip_address: '2001:db8::5' }],
    portSecurityEnabled: true, rules: [], ...overrides,
  };
}

const egressAll: SecurityGroupRuleSpec[] = [
  { direction: 'egress', ethertype: 'IPv4' },
  { direction: 'egress', ethertype: 'IPv6' },
];

describe(compileRuleset.name, () => {
  describe('golden rulesets of one port', () => {
    const cases: Array<[string, PortFirewallSpec[]]> = [
      ['default-rules', [port({ rules: [
        ...egressAll,
        { direction: 'ingress', ethertype: 'IPv4', remote_group_prefixes: ['10.0.0.5', '10.0.0.7', '2001:db8::5'] },
        { direction: 'ingress', ethertype: 'IPv6', remote_group_prefixes: ['10.0.0.5', '10.0.0.7', '2001:db8::5'] },
      ] })]],
      ['tcp-22-open', [port({ rules: [...egressAll, { direction: 'ingress', ethertype: 'IPv4', protocol: 'tcp', port_range_min: 22, port_range_max: 22, remote_ip_prefix: '0.0.0.0/0' }] })]],
      ['icmp', [port({ rules: [
        { direction: 'ingress', ethertype: 'IPv4', protocol: 'icmp' },
        { direction: 'ingress', ethertype: 'IPv4', protocol: 'icmp', port_range_min: 8, port_range_max: 0 },
        { direction: 'ingress', ethertype: 'IPv6', protocol: 'icmp', port_range_min: 128 },
        { direction: 'egress', ethertype: 'IPv6', protocol: 58 },
      ] })]],
      ['remote-prefix', [port({ rules: [
        { direction: 'ingress', ethertype: 'IPv4', protocol: 'tcp', port_range_min: 80, port_range_max: 81, remote_ip_prefix: '192.0.2.77/24' },
        { direction: 'egress', ethertype: 'IPv6', protocol: 'udp', port_range_min: 53, remote_ip_prefix: '2001:DB8:0:0::/64' },
        { direction: 'egress', ethertype: 'IPv4', protocol: '47', remote_group_prefixes: ['198.51.100.0/24', '198.51.100.9', '203.0.113.1'] },
      ] })]],
      ['allowed-pairs', [port({ allowedAddressPairs: [
        { ip_address: '10.0.0.100' },
        { ip_address: '10.1.0.0/16', mac_address: 'fa-16-3e-00-00-99' },
        { ip_address: '2001:db8:1::/48' },
      ] })]],
      ['port-security-disabled', [port({ portSecurityEnabled: false, rules: egressAll }), port({ portId: OTHER_ID, tap: 'nt-111111112222', bridge: 'nb-999999999999', mac: 'fa:16:3e:00:00:02', fixedIps: ['10.0.0.6'] })]],
      ['hostile-value-blocked', [port({ rules: [{ direction: 'ingress', ethertype: 'IPv4', remote_ip_prefix: '0.0.0.0/0 accept; }; table ip evil {' }] })]],
      ['no-ports', []],
    ];
    it.each(cases)('%s', (name, specs) => {
      expectGolden(compileRuleset(specs).text, name);
    });
  });

  describe('outcomes', () => {
    it('reports a port whose spec is invalid as blocked with the field, and filters the others', () => {
      const result = compileRuleset([port({ mac: 'ff:ff:ff:ff:ff:ff' }), port({ portId: OTHER_ID, tap: 'nt-111111112222', mac: 'fa:16:3e:00:00:02' })]);
      expect(result.outcomes).toEqual([
        { portId: PORT_ID, tap: 'nt-6f1c2d3e4a5b', status: 'blocked', error: { message: 'mac must be a unicast MAC address', field: 'mac' } },
        { portId: OTHER_ID, tap: 'nt-111111112222', status: 'filtered' },
      ]);
      expect(result.text).toContain('"nt-6f1c2d3e4a5b" : drop');
      expect(result.text).toContain('"nt-111111112222" : jump o_11111111222243338444555555555555');
    });

    it('blocks every port sharing a tap or a port id', () => {
      const result = compileRuleset([port(), port({ portId: OTHER_ID }), port({ tap: 'nt-other' })]);
      expect(result.outcomes.map((outcome) => [outcome.status, outcome.error?.field])).toEqual([
        ['blocked', 'portId'], ['blocked', 'tap'], ['blocked', 'portId'],
      ]);
      expect(result.chains.inet).toEqual([]);
    });

    it('reports a port whose tap cannot be named in a rule as unfilterable and installs nothing for it', () => {
      const result = compileRuleset([port({ tap: 'tap"; drop' })]);
      expect(result.outcomes[0]).toMatchObject({ status: 'unfilterable', error: { field: 'tap' } });
      expect(result.text).not.toContain('tap"');
      expect(result.chains).toEqual({ bridge: [], inet: [] });
    });

    it('gives the same text for the same ports and rules in any order (idempotent loads)', () => {
      const a = port({ rules: [...egressAll, { direction: 'ingress', ethertype: 'IPv4', protocol: 'tcp', port_range_min: 22 }] });
      const b = port({ portId: OTHER_ID, tap: 'nt-111111112222', mac: 'fa:16:3e:00:00:02', fixedIps: ['10.0.0.6'] });
      const reversed = { ...a, rules: [...a.rules].reverse() };
      expect(compileRuleset([b, reversed]).text).toBe(compileRuleset([a, b]).text);
    });

    it('names the chains it installs', () => {
      expect(compileRuleset([port()]).chains).toEqual({
        bridge: ['o_6f1c2d3e4a5b4c6d8e9f0a1b2c3d4e5f', 't_6f1c2d3e4a5b4c6d8e9f0a1b2c3d4e5f', 'from_ports', 'to_ports', 'check_seen'],
        inet: ['e_6f1c2d3e4a5b4c6d8e9f0a1b2c3d4e5f', 'i_6f1c2d3e4a5b4c6d8e9f0a1b2c3d4e5f', 'zones', 'egress_forwarded', 'egress_local', 'ingress_forwarded'],
      });
    });

    it('refuses a table name that is not a plain identifier', () => {
      expect(() => compileRuleset([], { table: 'x; flush ruleset' })).toThrow('table must be');
    });
  });
});
