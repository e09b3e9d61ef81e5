import { errorOf } from '../common/error-of';
import { parsePortCreate, parsePortUpdate, randomMac } from './port-body';

const NET = '6f9d2a55-7f3a-4b8e-9a59-1d5c1a0e0b11';
const user = { projectId: 'p1', isAdmin: false };
const admin = { projectId: 'p0', isAdmin: true };
const create = (extra: Record<string, unknown>, caller = user) => parsePortCreate({ port: { network_id: NET, ...extra } }, caller);

describe('parsePortCreate', () => {
  it('takes the defaults from elsewhere (undefined here)', () => {
    expect(create({})).toEqual(expect.objectContaining({ networkId: NET, projectId: 'p1', fixedIps: undefined, securityGroups: undefined, macAddress: undefined }));
  });

  it.each([
    ['a MAC in upper case', { mac_address: 'FA:16:3E:00:00:01' }, { macAddress: 'fa:16:3e:00:00:01' }],
    ['fixed ips', { fixed_ips: [{ subnet_id: NET }, { ip_address: '10.0.0.5' }] }, { fixedIps: [{ subnetId: NET, ipAddress: undefined }, { subnetId: undefined, ipAddress: 0x0a000005 }] }],
    ['no security groups', { security_groups: [] }, { securityGroups: [] }],
    ['address pairs', { allowed_address_pairs: [{ ip_address: '10.0.0.0/24' }] }, { addressPairs: [{ ip_address: '10.0.0.0/24' }] }],
  ])('takes %s', (_name, extra, want) => expect(create(extra)).toMatchObject(want));

  it.each([
    ['no network', { network_id: undefined }, user, 'network_id', 'validation'],
    ['a multicast MAC', { mac_address: '01:00:5e:00:00:01' }, user, 'mac_address', 'validation'],
    ['a malformed MAC', { mac_address: 'fa:16:3e:00:00' }, user, 'mac_address', 'validation'],
    ['fixed_ips not a list', { fixed_ips: 'x' }, user, 'fixed_ips', 'validation'],
    ['an empty fixed ip', { fixed_ips: [{}] }, user, 'fixed_ips', 'validation'],
    ['a bad address', { fixed_ips: [{ ip_address: '10.0.0.300' }] }, user, 'fixed_ips', 'validation'],
    ['an IPv6 address', { fixed_ips: [{ ip_address: 'fd00::5' }] }, user, 'fixed_ips', 'validation'],
    ['a bad group id', { security_groups: ['default'] }, user, 'security_groups', 'validation'],
    ['duplicate address pairs', { allowed_address_pairs: [{ ip_address: '10.0.0.9' }, { ip_address: '10.0.0.9' }] }, user, 'allowed_address_pairs', 'validation'],
    ['a binding host from a user', { 'binding:host_id': 'h1' }, user, undefined, 'forbidden'],
    ['another project from a user', { project_id: 'p2' }, user, undefined, 'forbidden'],
    ['a direct vnic', { 'binding:vnic_type': 'direct' }, admin, 'binding:vnic_type', 'validation'],
  ])('refuses %s', (_name, extra, caller, field, code) => expect(errorOf(() => create(extra, caller))).toMatchObject({ field, code }));

  it('lets an admin bind to a host', () => expect(create({ 'binding:host_id': 'h1' }, admin).hostId).toBe('h1'));
});

describe('parsePortUpdate', () => {
  it.each([
    ['the network', { network_id: NET }, user, 'validation'],
    ['the MAC from a user', { mac_address: 'fa:16:3e:00:00:01' }, user, 'forbidden'],
  ])('refuses %s', (_name, body, caller, code) => expect(errorOf(() => parsePortUpdate({ port: body }, caller))).toMatchObject({ code }));
});

describe('randomMac', () => {
  it('makes distinct unicast fa:16:3e addresses', () => {
    const macs = new Set(Array.from({ length: 200 }, randomMac));
    expect(macs.size).toBeGreaterThan(195);
    for (const mac of macs) expect(mac).toMatch(/^fa:16:3e(:[0-9a-f]{2}){3}$/);
  });
});
