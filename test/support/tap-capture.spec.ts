import { framesMentioning, icmpBetween, parseFrame } from './tap-capture';

// Lines as tcpdump 4.99 prints them with -n -e.
const ICMP = '02:21:46.398425 fa:16:3e:00:00:0a > fa:16:3e:00:00:0b, ethertype IPv4 (0x0800), length 98: 10.50.0.3 > 10.50.0.4: ICMP echo request, id 5, seq 1, length 64';
const REPLY = '02:21:46.398900 fa:16:3e:00:00:0b > fa:16:3e:00:00:0a, ethertype IPv4 (0x0800), length 98: 10.50.0.4 > 10.50.0.3: ICMP echo reply, id 5, seq 1, length 64';
const ARP = '02:21:47.1 fa:16:3e:00:00:0c > ff:ff:ff:ff:ff:ff, ethertype ARP (0x0806), length 42: Request who-has 10.50.0.30 tell 10.50.0.101, length 28';
const DHCP = '02:21:48.2 fa:16:3e:00:00:0c > ff:ff:ff:ff:ff:ff, ethertype IPv4 (0x0800), length 342: 10.50.0.3.68 > 255.255.255.255.67: BOOTP/DHCP, Request';
const V6 = '02:21:46.49 f6:00:f5:ec:88:ce > 33:33:ff:ec:88:ce, ethertype IPv6 (0x86dd), length 86: :: > ff02::1:ffec:88ce: ICMP6, neighbor solicitation, who has fe80::f400:f5ff:feec:88ce, length 32';
const frames = [ICMP, REPLY, ARP, DHCP, V6].map((l) => parseFrame(l)!);

describe('parseFrame', () => {
  it('reads the MACs and the rest of a frame line', () => {
    expect(parseFrame(ICMP)).toEqual({
      srcMac: 'fa:16:3e:00:00:0a', dstMac: 'fa:16:3e:00:00:0b', line: ICMP,
      text: 'ethertype IPv4 (0x0800), length 98: 10.50.0.3 > 10.50.0.4: ICMP echo request, id 5, seq 1, length 64',
    });
  });

  it.each([
    ['tcpdump\'s banner', 'listening on nt-0123, link-type EN10MB (Ethernet), snapshot length 262144 bytes'],
    ['its summary', '10 packets captured'],
    ['an empty line', ''],
  ])('ignores %s', (_what, line) => {
    expect(parseFrame(line)).toBeUndefined();
  });
});

describe('framesMentioning', () => {
  it.each([
    ['a MAC as source or destination', { macs: ['FA:16:3E:00:00:0B'] }, [ICMP, REPLY]],
    ['an address, also followed by a port', { ips: ['10.50.0.3'] }, [ICMP, REPLY, DHCP]],
    ['an address, not as the prefix of a longer one', { ips: ['10.50.0.30'] }, [ARP]],
    ['an address, not as the suffix of a longer one', { ips: ['0.50.0.4'] }, []],
    ['nothing when neither is named', { macs: ['fa:16:3e:99:99:99'], ips: ['10.9.9.9'] }, []],
  ])('finds %s', (_what, o, expected) => {
    expect(framesMentioning(frames, o).map((f) => f.line)).toEqual(expected);
  });
});

describe('icmpBetween', () => {
  it('finds echo requests and replies between two addresses in both directions', () => {
    expect(icmpBetween(frames, '10.50.0.4', '10.50.0.3').map((f) => f.line)).toEqual([ICMP, REPLY]);
    expect(icmpBetween(frames, '10.50.0.3', '10.50.0.30')).toEqual([]);
  });
});
