import { nftCommand } from './nft-runner';

describe(nftCommand.name, () => {
  it.each([
    [{}, { file: 'nft', args: ['-f', '-'] }],
    [{ netns: 'nubo-h1' }, { file: 'ip', args: ['netns', 'exec', 'nubo-h1', 'nft', '-f', '-'] }],
    [{ netns: 'h2', nftBinary: '/usr/sbin/nft', ipBinary: '/sbin/ip' }, { file: '/sbin/ip', args: ['netns', 'exec', 'h2', '/usr/sbin/nft', '-f', '-'] }],
  ])('runs nft -f - with %p', (options, command) => {
    expect(nftCommand(['-f', '-'], options)).toEqual(command);
  });

  it('refuses a namespace name that is not one', () => {
    expect(() => nftCommand(['-f', '-'], { netns: '../x y' })).toThrow('netns must be a namespace name');
  });
});
