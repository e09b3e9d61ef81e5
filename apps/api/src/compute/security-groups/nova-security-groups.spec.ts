import { ValidationError } from '@nubo/contracts';
import {
  byProjectThenName,
  findGroup,
  novaGroupView,
  parseSecurityGroupAction,
  parseServerSecurityGroups,
  serverGroupNames,
} from './nova-security-groups';
import { withSecurityGroups } from './requested-security-groups';

const G1 = '11111111-1111-4111-8111-111111111111';
const G2 = '22222222-2222-4222-8222-222222222222';
const G3 = '33333333-3333-4333-8333-333333333333';
const S1 = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa';
const S2 = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb';

describe('nova-security-groups', () => {
  describe('parseServerSecurityGroups', () => {
    it.each([
      [undefined, undefined],
      [[], []],
      [[{ name: 'web' }, { name: G1 }], ['web', G1]],
      [[{}, { name: 'web' }], ['web']],
    ])('reads %j as %j', (value, names) => expect(parseServerSecurityGroups(value)).toEqual(names));

    it.each([
      ['web', 'security_groups', "is not of type 'array'"],
      [['web'], 'security_groups', "is not of type 'object'"],
      [[{ name: 'web', id: 'x' }], 'security_groups', "Additional properties are not allowed ('id' was unexpected)"],
      [[{ name: 7 }], 'name', "is not of type 'string'"],
      [[{ name: '' }], 'name', 'is too short'],
      [[{ name: 'x'.repeat(256) }], 'name', 'is too long'],
      [[{ name: ' web' }], 'name', 'Leading or trailing whitespace'],
    ])('refuses %j with 400 naming %s', (value, field, reason) => {
      let error: unknown;
      try {
        parseServerSecurityGroups(value);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).details.field).toBe(field);
      expect((error as ValidationError).message).toContain(reason);
    });
  });

  describe('parseSecurityGroupAction', () => {
    it('reads the name of addSecurityGroup and removeSecurityGroup', () => {
      expect(parseSecurityGroupAction({ addSecurityGroup: { name: 'web' } }, 'addSecurityGroup')).toBe('web');
      expect(parseSecurityGroupAction({ removeSecurityGroup: { name: G1 } }, 'removeSecurityGroup')).toBe(G1);
    });

    it.each([
      [null, 'Missing parameter dict'],
      ['web', 'Missing parameter dict'],
      [{}, 'Security group not specified'],
      [{ name: '  ' }, 'Security group name cannot be empty'],
      [{ name: 3 }, 'Security group name cannot be empty'],
    ])("answers Nova's message for %j", (inner, message) => {
      expect(() => parseSecurityGroupAction({ addSecurityGroup: inner }, 'addSecurityGroup')).toThrow(new ValidationError(message));
    });
  });

  describe('findGroup', () => {
    const groups = [
      { id: G1, name: 'web' },
      { id: G2, name: 'dup' },
      { id: G3, name: 'dup' },
    ];
    it.each([
      ['web', { found: groups[0] }],
      [G2, { found: groups[1] }],
      [G2.toUpperCase(), { found: groups[1] }],
      ['dup', { many: true }],
      ['nope', { missing: true }],
      ['WEB', { missing: true }],
    ])('finds %p as %j', (nameOrId, result) => expect(findGroup(groups, nameOrId)).toEqual(result));

    it('prefers an id over a group named like it', () => {
      expect(findGroup([{ id: G2, name: G1 }, { id: G1, name: 'x' }], G1)).toEqual({ found: { id: G1, name: 'x' } });
    });
  });

  describe('serverGroupNames', () => {
    const groups = new Map([
      [G1, { id: G1, name: 'default' }],
      [G2, { id: G2, name: '' }],
    ]);
    it('gives each server the distinct groups of its ports, in port order, unnamed ones by id, invisible ones left out', () => {
      const names = serverGroupNames(
        [
          { device_id: S1, security_groups: [G1] },
          { device_id: S1, security_groups: [G2, G1, G3] },
          { device_id: S2, security_groups: [] },
        ],
        groups,
      );
      expect(names.get(S1)).toEqual([{ name: 'default' }, { name: G2 }]);
      expect(names.has(S2)).toBe(false);
    });
  });

  describe('novaGroupView', () => {
    const rule = (over: Record<string, unknown>) => ({
      id: 'r', direction: 'ingress', protocol: null, port_range_min: null, port_range_max: null,
      remote_ip_prefix: null, remote_group_id: null, security_group_id: G1, ethertype: 'IPv4', ...over,
    });
    const web = {
      id: G1, name: 'web', description: 'd', tenant_id: 'p1', project_id: 'p1',
      security_group_rules: [
        rule({ id: 'tcp22', protocol: 'tcp', port_range_min: 22, port_range_max: 22, remote_ip_prefix: '10.0.0.0/8' }),
        rule({ id: 'udp-any', protocol: 'udp' }),
        rule({ id: 'icmp-any', protocol: 'icmp' }),
        rule({ id: 'from-peers', remote_group_id: G2 }),
        rule({ id: 'from-hidden', remote_group_id: G3 }),
        rule({ id: 'out', direction: 'egress' }),
      ],
    };
    const peers = { id: G2, name: 'peers', description: '', tenant_id: 'p2', project_id: 'p2', security_group_rules: [] };

    it("shows ingress rules in Nova's shape (ports widened when absent, remote groups by name, unreadable ones dropped)", () => {
      const view = novaGroupView(web, new Map<string, Record<string, unknown>>([[G1, web], [G2, peers]]));
      expect(view).toEqual({
        id: G1, name: 'web', description: 'd', tenant_id: 'p1',
        rules: [
          { id: 'tcp22', parent_group_id: G1, ip_protocol: 'tcp', from_port: 22, to_port: 22, group: {}, ip_range: { cidr: '10.0.0.0/8' } },
          { id: 'udp-any', parent_group_id: G1, ip_protocol: 'udp', from_port: 1, to_port: 65535, group: {}, ip_range: { cidr: '0.0.0.0/0' } },
          { id: 'icmp-any', parent_group_id: G1, ip_protocol: 'icmp', from_port: -1, to_port: -1, group: {}, ip_range: { cidr: '0.0.0.0/0' } },
          { id: 'from-peers', parent_group_id: G1, ip_protocol: null, from_port: null, to_port: null, group: { name: 'peers', tenant_id: 'p2' }, ip_range: {} },
        ],
      });
    });

    it('sorts by project, then name', () => {
      const rows = [{ tenant_id: 'b', name: 'a' }, { tenant_id: 'a', name: 'z' }, { tenant_id: 'a', name: 'B' }];
      expect(rows.sort(byProjectThenName)).toEqual([{ tenant_id: 'a', name: 'B' }, { tenant_id: 'a', name: 'z' }, { tenant_id: 'b', name: 'a' }]);
    });
  });

  describe('withSecurityGroups', () => {
    const N = 'cccccccc-cccc-4ccc-8ccc-cccccccccccc';
    const P = 'dddddddd-dddd-4ddd-8ddd-dddddddddddd';
    it('puts the groups on the networks only: a given port keeps its own', () => {
      expect(withSecurityGroups([{ networkId: N, fixedIp: '10.0.0.5' }, { portId: P }], [G1, G2])).toEqual([
        { networkId: N, fixedIp: '10.0.0.5', securityGroups: [G1, G2] },
        { portId: P },
      ]);
    });
    it('leaves the networks alone when no groups were asked (the default group)', () => {
      expect(withSecurityGroups([{ networkId: N }], undefined)).toEqual([{ networkId: N }]);
    });
  });
});
