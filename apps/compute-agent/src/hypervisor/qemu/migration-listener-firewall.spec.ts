import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { closingRuleset, openingRuleset, portsOfChain } from './migration-listener-firewall';

/** UPDATE_GOLDEN=1 rewrites the file (review the diff). */
function expectGolden(text: string, name: string): void {
  const file = join(__dirname, '__golden__', 'migration', `${name}.nft`);
  if (process.env.UPDATE_GOLDEN) writeFileSync(file, text);
  expect(text).toBe(readFileSync(file, 'utf8'));
}

describe('migration-listener-firewall', () => {
  describe(openingRuleset.name, () => {
    it.each([
      ['open-ipv4', { migrationId: 'm1', sourceAddress: '10.77.0.2', ports: [49153, 49152, 49153] }],
      ['open-ipv6', { migrationId: 'm2', sourceAddress: 'fd00::2', ports: [49160] }],
    ])('renders %s', (name, opening) => expectGolden(openingRuleset('nubo_migration', opening), name));

    it.each([
      ['a hostile migrationId', { migrationId: 'x; flush ruleset', sourceAddress: '10.0.0.1', ports: [1] }, 'migrationId'],
      ['a source that is no IP', { migrationId: 'm', sourceAddress: '10.0.0.1 accept', ports: [1] }, 'sourceAddress'],
      ['no port', { migrationId: 'm', sourceAddress: '10.0.0.1', ports: [] }, 'ports'],
      ['port 0', { migrationId: 'm', sourceAddress: '10.0.0.1', ports: [0] }, 'ports'],
    ])('refuses %s', (_, opening, field) => {
      expect(() => openingRuleset('t', opening)).toThrow(expect.objectContaining({ details: expect.objectContaining({ field }) }));
    });
  });

  describe(closingRuleset.name, () => {
    it('renders the close of found ports', () => expectGolden(closingRuleset('nubo_migration', 'm1', [49152, 49153]), 'close'));
    it('deletes no element when none is left (closing twice)', () => expect(closingRuleset('t', 'm1', [])).not.toContain('delete element'));
  });

  describe(portsOfChain.name, () => {
    it('returns only the ports that jump to the chain', () => {
      const json = JSON.stringify({ nftables: [{ metainfo: {} }, { map: { elem: [[1, { jump: { target: 'mig-a' } }], [2, { jump: { target: 'mig-b' } }], [3, { jump: { target: 'mig-a' } }]] } }] });
      expect(portsOfChain(json, 'mig-a')).toEqual([1, 3]);
      expect(portsOfChain(JSON.stringify({ nftables: [{ map: {} }] }), 'mig-a')).toEqual([]);
    });
  });
});
