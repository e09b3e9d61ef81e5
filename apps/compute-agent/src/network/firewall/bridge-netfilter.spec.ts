import { bridgeNetfilterCommand } from './bridge-netfilter';

describe(bridgeNetfilterCommand.name, () => {
  it.each([
    [undefined, { file: 'sysctl', args: ['-q', '-w', 'net.bridge.bridge-nf-call-iptables=1', 'net.bridge.bridge-nf-call-ip6tables=1'] }],
    ['nubo-h1', { file: 'ip', args: ['netns', 'exec', 'nubo-h1', 'sysctl', '-q', '-w', 'net.bridge.bridge-nf-call-iptables=1', 'net.bridge.bridge-nf-call-ip6tables=1'] }],
  ])('turns both sysctls on in namespace %p', (netns, command) => {
    expect(bridgeNetfilterCommand(netns)).toEqual(command);
  });

  it('refuses a namespace name that is not one', () => {
    expect(() => bridgeNetfilterCommand('a b')).toThrow('netns must be a namespace name');
  });
});
