import { errorOf } from '../common/error-of';
import { formatIp, parseIp } from '../common/ipv4';
import { SubnetRow } from '../subnets/subnets.service';
import { pickAddresses } from './ipam';

const ip = (s: string) => parseIp(s)!;
const S1 = '11111111-1111-4111-8111-111111111111';
const S2 = '22222222-2222-4222-8222-222222222222';

function subnet(id: string, cidr: string, pool: [string, string], taken: string[] = []) {
  const row = { id, cidr, gateway_ip: cidr.replace(/0\/\d+$/, '1'), allocation_pools: [{ start: pool[0], end: pool[1] }] } as SubnetRow;
  return { row, pools: [{ first: ip(pool[0]), last: ip(pool[1]) }], gateway: ip(row.gateway_ip!), taken: new Set(taken.map(ip)) };
}
const show = (as: Array<{ subnetId: string; ip: number }>) => as.map((a) => `${a.subnetId === S1 ? 's1' : 's2'}:${formatIp(a.ip)}`);

describe('pickAddresses', () => {
  it.each([
    ['the first free address of the first subnet', undefined, [], ['s1:10.0.0.2']],
    ['the next subnet when the first is full', undefined, ['10.0.0.2', '10.0.0.3'], ['s2:10.0.1.2']],
    ['a free address of a given subnet', [{ subnetId: S2 }], [], ['s2:10.0.1.2']],
    ['a given address', [{ ipAddress: ip('10.0.0.77') }], [], ['s1:10.0.0.77']],
    ['a given address outside the pools but inside the cidr', [{ subnetId: S1, ipAddress: ip('10.0.0.200') }], [], ['s1:10.0.0.200']],
    ['two from one subnet', [{ subnetId: S1 }, { subnetId: S1 }], [], ['s1:10.0.0.2', 's1:10.0.0.3']],
  ])('gives %s', (_name, requests, takenS1, want) => {
    const subnets = [subnet(S1, '10.0.0.0/24', ['10.0.0.2', '10.0.0.3'], takenS1), subnet(S2, '10.0.1.0/24', ['10.0.1.2', '10.0.1.254'])];
    expect(show(pickAddresses('net', subnets, requests, false))).toEqual(want);
  });

  it('gives nothing on a network without subnets', () => expect(pickAddresses('net', [], undefined, false)).toEqual([]));

  it.each([
    ['a taken address', [{ subnetId: S1, ipAddress: ip('10.0.0.2') }], ['10.0.0.2'], 'IpAddressAlreadyAllocated', 'conflict'],
    ['the gateway', [{ ipAddress: ip('10.0.0.1') }], [], 'IpAddressAlreadyAllocated', 'conflict'],
    ['an address outside the subnet', [{ subnetId: S1, ipAddress: ip('10.0.1.9') }], [], 'BadRequest', 'validation'],
    ['the broadcast address', [{ subnetId: S1, ipAddress: ip('10.0.0.255') }], [], 'BadRequest', 'validation'],
    ['an address of no subnet', [{ ipAddress: ip('192.168.0.9') }], [], 'BadRequest', 'validation'],
    ['a subnet of another network', [{ subnetId: S2 }], [], 'BadRequest', 'validation'],
    ['a full pool', [{ subnetId: S1 }], ['10.0.0.2', '10.0.0.3'], 'IpAddressGenerationFailure', 'conflict'],
    ['a full network', undefined, ['10.0.0.2', '10.0.0.3'], 'IpAddressGenerationFailure', 'conflict'],
  ])('refuses %s', (_name, requests, takenS1, type, code) => {
    const subnets = [subnet(S1, '10.0.0.0/24', ['10.0.0.2', '10.0.0.3'], takenS1)];
    expect(errorOf(() => pickAddresses('net', subnets, requests, false))).toMatchObject({ type, code });
  });

  it('lets a router port take the gateway', () => {
    expect(show(pickAddresses('net', [subnet(S1, '10.0.0.0/24', ['10.0.0.2', '10.0.0.3'])], [{ ipAddress: ip('10.0.0.1') }], true))).toEqual(['s1:10.0.0.1']);
  });
});
