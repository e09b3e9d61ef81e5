import { cidrsOverlap, defaultPools, firstFree, formatIp, parseCidrLoose, parseIp, usableRange } from './ipv4';

const ip = (s: string) => parseIp(s)!;

describe('ipv4', () => {
  describe('parseIp', () => {
    it.each([
      ['10.0.0.1', 0x0a000001],
      ['255.255.255.255', 0xffffffff],
      ['0.0.0.0', 0],
      ['192.168.1.200', 0xc0a801c8],
    ])('parses %s', (text, n) => expect(parseIp(text)).toBe(n));
    it.each(['10.0.0', '10.0.0.256', '010.0.0.1', 'a.b.c.d', '::1', '', '1.2.3.4 '])('refuses %p', (text) => expect(parseIp(text)).toBeUndefined());
    it('formats back', () => expect(formatIp(ip('172.16.254.3'))).toBe('172.16.254.3'));
  });

  describe('parseCidrLoose', () => {
    it.each([
      ['10.0.0.0/24', { address: ip('10.0.0.0'), prefix: 24 }],
      ['10.0.0.5/24', { address: ip('10.0.0.5'), prefix: 24 }],
      ['10.0.0.0/33', undefined],
      ['10.0.0.0', undefined],
      ['10.0.0.0/24/1', undefined],
    ])('%s', (text, want) => expect(parseCidrLoose(text)).toEqual(want));
  });

  describe('defaultPools', () => {
    const net = { network: ip('10.0.0.0'), prefix: 24 };
    it.each([
      ['gateway first', ip('10.0.0.1'), [['10.0.0.2', '10.0.0.254']]],
      ['gateway in the middle', ip('10.0.0.100'), [['10.0.0.1', '10.0.0.99'], ['10.0.0.101', '10.0.0.254']]],
      ['gateway last', ip('10.0.0.254'), [['10.0.0.1', '10.0.0.253']]],
      ['no gateway', null, [['10.0.0.1', '10.0.0.254']]],
    ])('%s', (_name, gateway, want) => {
      expect(defaultPools(net, gateway).map((r) => [formatIp(r.first), formatIp(r.last)])).toEqual(want);
    });
    it('keeps every address of a /31', () => {
      const r = usableRange({ network: ip('10.0.0.0'), prefix: 31 });
      expect([formatIp(r.first), formatIp(r.last)]).toEqual(['10.0.0.0', '10.0.0.1']);
    });
  });

  describe('cidrsOverlap', () => {
    it.each([
      ['10.0.0.0/24', '10.0.0.0/25', true],
      ['10.0.0.0/24', '10.0.1.0/24', false],
      ['10.0.0.0/8', '10.200.0.0/16', true],
      ['192.168.0.0/24', '10.0.0.0/8', false],
    ])('%s vs %s: %s', (a, b, want) => {
      const [ca, cb] = [a, b].map((t) => parseCidrLoose(t)!).map((c) => ({ network: c.address, prefix: c.prefix }));
      expect(cidrsOverlap(ca, cb)).toBe(want);
      expect(cidrsOverlap(cb, ca)).toBe(want);
    });
  });

  describe('firstFree', () => {
    const pools = [{ first: ip('10.0.0.10'), last: ip('10.0.0.11') }, { first: ip('10.0.0.2'), last: ip('10.0.0.3') }];
    it.each([
      ['the lowest address of the lowest pool', [], '10.0.0.2'],
      ['the next one when taken', ['10.0.0.2'], '10.0.0.3'],
      ['the next pool when one is full', ['10.0.0.2', '10.0.0.3'], '10.0.0.10'],
      ['nothing when all are taken', ['10.0.0.2', '10.0.0.3', '10.0.0.10', '10.0.0.11'], undefined],
    ])('gives %s', (_name, taken, want) => {
      const got = firstFree(pools, new Set(taken.map(ip)));
      expect(got === undefined ? undefined : formatIp(got)).toBe(want);
    });
  });
});
