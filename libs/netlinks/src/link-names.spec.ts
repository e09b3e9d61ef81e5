import { ValidationError } from '@nubo/contracts';
import { IFNAMSIZ_MAX, bridgeName, ownedRole, tapMac, tapName, vlanName, vxlanName } from './link-names';

const ID = '3F2504E0-4F89-41D3-9A0C-0305E82C3301';

describe('link-names', () => {
  it.each([
    [bridgeName, 'nb-3f2504e04f89'],
    [vxlanName, 'nv-3f2504e04f89'],
    [vlanName, 'nl-3f2504e04f89'],
    [tapName, 'nt-3f2504e04f89'],
  ])('%p names from the first 12 hex digits, within IFNAMSIZ and the tap rule of instance-spec', (name, expected) => {
    expect(name(ID)).toBe(expected);
    expect(name(ID.replace(/-/g, '').toLowerCase())).toBe(expected);
    expect(expected.length).toBeLessThanOrEqual(IFNAMSIZ_MAX);
    expect(expected).toMatch(/^[a-z0-9-]{1,15}$/);
  });

  it.each(['', 'net-1', '3f2504e04f8', 'zzzzzzzz-zzzz'])('refuses the id %j', (id) => {
    expect(() => bridgeName(id)).toThrow(ValidationError);
  });

  it.each<[string, string | undefined]>([
    ['nb-3f2504e04f89', 'bridge'], ['nv-3f2504e04f89', 'vxlan'], ['nl-3f2504e04f89', 'vlan'], ['nt-3f2504e04f89', 'tap'],
    ['nb-test', undefined], ['nx-3f2504e04f89', undefined], ['nb-3f2504e04f89a', undefined], ['nt-3F2504E04F89', undefined],
    ['eth0', undefined], ['tap3f2504e0-4f', undefined],
  ])('%s is ours as %s', (name, role) => {
    expect(ownedRole(name)).toBe(role);
  });

  it('gives a tap the guest MAC with 0xfe first', () => {
    expect(tapMac('FA:16:3E:12:34:56')).toBe('fe:16:3e:12:34:56');
  });
});
