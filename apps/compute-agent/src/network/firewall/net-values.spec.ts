import { ValidationError } from '@nubo/contracts';
import { linkLocalOf, minimalPrefixes, parseInterfaceName, parseIntIn, parseIpPrefix, parseMac, parseUuidHex } from './net-values';

describe('net-values', () => {
  describe(parseIpPrefix.name, () => {
    it.each([
      ['10.0.0.5', '10.0.0.5', 4],
      ['10.0.0.77/24', '10.0.0.0/24', 4],
      ['0.0.0.0/0', '0.0.0.0/0', 4],
      ['10.0.0.5/32', '10.0.0.5', 4],
      ['2001:DB8:0:0:0:0:0:1', '2001:db8::1', 6],
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1', 6],
      ['2001:0db8::/32', '2001:db8::/32', 6],
      ['::', '::', 6],
      ['::/0', '::/0', 6],
      ['::ffff:192.0.2.1', '::ffff:c000:201', 6],
      ['fe80::1:2:3:4:5:6', 'fe80:0:1:2:3:4:5:6', 6],
      ['1:0:0:2:0:0:0:3', '1:0:0:2::3', 6],
    ])('prints %s as %s', (input, text, family) => {
      expect(parseIpPrefix(input, 'f')).toMatchObject({ text, family });
    });

    it.each([
      '10.0.0', '10.0.0.256', '010.0.0.1', '10.0.0.1/33', '10.0.0.1/', '10.0.0.1/08', '1::2::3', '1:2:3:4:5:6:7:8:9',
      '12345::', 'fe80::1%eth0', '10.0.0.1 ', '10.0.0.0/8 } accept', '::1/129', '', 42, null, '1:2:3:4:5:6:7::8:9',
    ])('refuses %p naming the field', (input) => {
      expect(() => parseIpPrefix(input, 'rules[0].remote_ip_prefix')).toThrow(ValidationError);
      expect(() => parseIpPrefix(input, 'rules[0].remote_ip_prefix')).toThrow(/^rules\[0\]\.remote_ip_prefix /);
    });

    it('refuses a network where a host address is required', () => {
      expect(() => parseIpPrefix('10.0.0.0/24', 'fixedIps[0]', { hostOnly: true })).toThrow('fixedIps[0] must be a single IP address');
    });
  });

  describe(minimalPrefixes.name, () => {
    it('drops prefixes covered by others and sorts the rest', () => {
      const texts = minimalPrefixes(['10.0.0.5', '2001:db8::1', '10.0.0.0/24', '10.0.1.1', '10.0.0.0/24', '2001:db8::/64'].map((p) => parseIpPrefix(p, 'f')))
        .map((prefix) => prefix.text);
      expect(texts).toEqual(['10.0.0.0/24', '10.0.1.1', '2001:db8::/64']);
    });
  });

  describe(parseMac.name, () => {
    it.each([['FA:16:3E:0A:0B:0C', 'fa:16:3e:0a:0b:0c'], ['fa-16-3e-00-00-01', 'fa:16:3e:00:00:01']])('prints %s as %s', (input, text) => {
      expect(parseMac(input, 'mac')).toBe(text);
    });
    it.each(['ff:ff:ff:ff:ff:ff', '01:00:5e:00:00:01', '00:00:00:00:00:00', 'fa:16:3e:00:00', 'fa:16:3e:00:00:01:02', 'fa16.3e00.0001', 'fa:16:3e:00:00:0g'])('refuses %s', (input) => {
      expect(() => parseMac(input, 'mac')).toThrow(/^mac /);
    });
  });

  describe(linkLocalOf.name, () => {
    it('derives the modified EUI-64 link-local address', () => {
      expect(linkLocalOf('fa:16:3e:00:00:01').text).toBe('fe80::f816:3eff:fe00:1');
      expect(linkLocalOf('02:79:00:00:00:01').text).toBe('fe80::79:ff:fe00:1');
    });
  });

  describe(parseUuidHex.name, () => {
    it('takes a UUID with or without dashes', () => {
      expect(parseUuidHex('6F1C2D3E-4A5B-4C6D-8E9F-0A1B2C3D4E5F', 'portId')).toBe('6f1c2d3e4a5b4c6d8e9f0a1b2c3d4e5f');
      expect(parseUuidHex('6f1c2d3e4a5b4c6d8e9f0a1b2c3d4e5f', 'portId')).toBe('6f1c2d3e4a5b4c6d8e9f0a1b2c3d4e5f');
    });
    it.each(['port-1', '6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5', '6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f0', '../../x', 7])('refuses %p', (input) => {
      expect(() => parseUuidHex(input, 'portId')).toThrow('portId must be a UUID');
    });
  });

  describe(parseInterfaceName.name, () => {
    it.each(['nt-6f1c2d3e4a5b', 'tap0', 'veth_a.1'])('accepts %s', (name) => expect(parseInterfaceName(name, 'tap')).toBe(name));
    it.each(['', 'a-name-longer-than-15', 'tap"x', 'tap x', '-tap', 'tap;drop', 'tap}'])('refuses %p', (name) => {
      expect(() => parseInterfaceName(name, 'tap')).toThrow(/^tap /);
    });
  });

  describe(parseIntIn.name, () => {
    it.each([[22, true], [0, false], [65536, false], [1.5, false], ['22', false], [Number.NaN, false]])('%p in 1..65535: %p', (value, ok) => {
      const parse = () => parseIntIn(value, 'port_range_min', 1, 65535);
      if (ok) expect(parse()).toBe(value);
      else expect(parse).toThrow('port_range_min must be an integer from 1 to 65535');
    });
  });
});
