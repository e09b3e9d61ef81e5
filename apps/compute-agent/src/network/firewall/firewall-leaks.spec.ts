import { findDrift, parseListing } from './firewall-leaks';

const json = JSON.stringify({
  nftables: [
    { metainfo: { version: '1.0.6' } },
    { table: { family: 'bridge', name: 'nubo_sg', handle: 1 } },
    { chain: { family: 'bridge', table: 'nubo_sg', name: 'o_aa', handle: 2 } },
    { chain: { family: 'bridge', table: 'nubo_sg', name: 'from_ports', handle: 3 } },
    { table: { family: 'inet', name: 'nubo_sg', handle: 4 } },
    { chain: { family: 'inet', table: 'nubo_sg', name: 'e_aa', handle: 5 } },
    { table: { family: 'ip', name: 'nubo_sg', handle: 6 } },
    { chain: { family: 'ip', table: 'nubo_sg', name: 'other', handle: 7 } },
    { table: { family: 'inet', name: 'someone_else', handle: 8 } },
    { chain: { family: 'inet', table: 'someone_else', name: 'e_aa', handle: 9 } },
    { rule: { family: 'inet', table: 'nubo_sg', chain: 'e_aa', expr: [] } },
  ],
});

describe('firewall leaks', () => {
  describe(parseListing.name, () => {
    it('keeps only our tables of the bridge and inet families', () => {
      expect(parseListing(json, 'nubo_sg')).toEqual({
        table: 'nubo_sg',
        tables: ['bridge', 'inet'],
        chains: [{ family: 'bridge', name: 'o_aa' }, { family: 'bridge', name: 'from_ports' }, { family: 'inet', name: 'e_aa' }],
      });
    });
    it('refuses output that is not JSON', () => {
      expect(() => parseListing('table inet x {', 'nubo_sg')).toThrow('not JSON');
    });
  });

  describe(findDrift.name, () => {
    const listing = parseListing(json, 'nubo_sg');
    it.each([
      ['no ports remain: both tables and every chain leak', { bridge: [], inet: [] }, {
        leaked: [
          { family: 'bridge', kind: 'table', name: 'nubo_sg' }, { family: 'bridge', kind: 'chain', name: 'from_ports' },
          { family: 'bridge', kind: 'chain', name: 'o_aa' }, { family: 'inet', kind: 'table', name: 'nubo_sg' },
          { family: 'inet', kind: 'chain', name: 'e_aa' },
        ],
        missing: [],
      }],
      ['a port is gone, another is new', { bridge: ['o_bb', 'from_ports'], inet: ['e_bb'] }, {
        leaked: [{ family: 'bridge', kind: 'chain', name: 'o_aa' }, { family: 'inet', kind: 'chain', name: 'e_aa' }],
        missing: [{ family: 'bridge', kind: 'chain', name: 'o_bb' }, { family: 'inet', kind: 'chain', name: 'e_bb' }],
      }],
      ['what should be there is there', { bridge: ['o_aa', 'from_ports'], inet: ['e_aa'] }, { leaked: [], missing: [] }],
    ])('%s', (_name, expected, drift) => {
      expect(findDrift(listing, expected)).toEqual(drift);
    });

    it('reports missing tables when nothing is loaded', () => {
      expect(findDrift({ table: 'nubo_sg', tables: [], chains: [] }, { bridge: ['o_aa'], inet: [] }).missing).toEqual([
        { family: 'bridge', kind: 'table', name: 'nubo_sg' }, { family: 'bridge', kind: 'chain', name: 'o_aa' },
      ]);
    });
  });
});
