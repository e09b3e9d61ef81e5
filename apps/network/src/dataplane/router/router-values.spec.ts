import { cidrContains, parseIfName, parseIpv4, parseIpv4Cidr, parseMac, parseMtu, parseNetns, parseUuid } from './router-values';

describe('router values', () => {
  it.each([
    ['10.0.0.1', '10.0.0.1'], ['255.255.255.255', '255.255.255.255'], ['010.0.0.1', undefined], ['10.0.0.256', undefined],
    ['10.0.0', undefined], ['10.0.0.1 ', undefined], ['1.2.3.4; flush ruleset', undefined], [42, undefined],
  ])('parseIpv4(%p) is %p', (text, expected) => expect(parseIpv4(text)).toBe(expected));

  it.each([
    ['10.80.0.1/24', { address: '10.80.0.1', prefix: 24, network: '10.80.0.0/24' }],
    ['203.0.113.20/32', { address: '203.0.113.20', prefix: 32, network: '203.0.113.20/32' }],
    ['0.0.0.0/0', { address: '0.0.0.0', prefix: 0, network: '0.0.0.0/0' }],
    ['10.0.0.1/33', undefined], ['10.0.0.1', undefined], ['10.0.0.1/24/1', undefined], ['10.0.0.1/2a', undefined],
  ])('parseIpv4Cidr(%p) is %p', (text, expected) => expect(parseIpv4Cidr(text)).toEqual(expected));

  it.each([
    ['10.80.0.0/24', '10.80.0.200', true], ['10.80.0.0/24', '10.80.1.1', false], ['0.0.0.0/0', '1.2.3.4', true],
  ])('cidrContains(%s, %s) is %s', (cidr, address, expected) => expect(cidrContains(parseIpv4Cidr(cidr)!, address)).toBe(expected));

  it.each([
    ['FA:16:3E:00:00:01', 'fa:16:3e:00:00:01'], ['fa-16-3e-00-00-01', 'fa:16:3e:00:00:01'], ['01:00:5e:00:00:01', undefined],
    ['fa:16:3e:00:00', undefined], ['fa:16:3e:00:00:01\n', undefined],
  ])('parseMac(%p) is %p', (text, expected) => expect(parseMac(text)).toBe(expected));

  it.each([
    ['A1B2C3D4-0000-4000-8000-000000000001', 'a1b2c3d4-0000-4000-8000-000000000001'], ['a1b2c3d4', undefined], ['../../etc', undefined],
  ])('parseUuid(%p) is %p', (text, expected) => expect(parseUuid(text)).toBe(expected));

  it.each([
    ['br-ext', 'br-ext'], ['nb-0123456789ab', 'nb-0123456789ab'], ['a-name-too-long-x', undefined], ['br ext', undefined], ['-br', undefined], ['br/x', undefined],
  ])('parseIfName(%p) is %p', (text, expected) => expect(parseIfName(text)).toBe(expected));

  it.each([['nubo-h1', 'nubo-h1'], ['../x', undefined], ['', undefined]])('parseNetns(%p) is %p', (text, expected) => expect(parseNetns(text)).toBe(expected));

  it.each([[1450, 1450], [67, undefined], [65536, undefined], [1500.5, undefined], ['1500', undefined]])('parseMtu(%p) is %p', (v, expected) =>
    expect(parseMtu(v)).toBe(expected));
});
