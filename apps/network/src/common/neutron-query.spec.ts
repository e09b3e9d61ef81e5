import { NuboError } from '@nubo/contracts';
import { applyFilters, listView, resourceBody, selectFields } from './neutron-query';

const items = [
  { id: 'a', name: 'net1', shared: false, 'router:external': false, subnets: ['s1'] },
  { id: 'b', name: 'net2', shared: true, 'router:external': true, subnets: [] },
  { id: 'c', name: 'net1', shared: true, 'router:external': false, subnets: ['s2', 's3'] },
];

describe('neutron-query', () => {
  describe('applyFilters', () => {
    it.each([
      [{ name: 'net1' }, ['a', 'c']],
      [{ shared: 'True' }, ['b', 'c']],
      [{ 'router:external': 'false' }, ['a', 'c']],
      [{ id: ['a', 'b'] }, ['a', 'b']],
      [{ name: 'net1', shared: 'true' }, ['c']],
      [{ subnets: 's3' }, ['c']],
      [{ unknown_attr: 'x' }, ['a', 'b', 'c']],
      [{ name: 'nope' }, []],
    ])('%j -> %j', (query, ids) => expect(applyFilters(items, query).map((i) => i.id)).toEqual(ids));
  });

  describe('selectFields', () => {
    it.each([
      [{ fields: ['id', 'name'] }, { id: 'a', name: 'net1' }],
      [{ fields: 'id,shared' }, { id: 'a', shared: false }],
      [{ fields: ['id', 'tags'] }, { id: 'a' }],
      [{}, items[0]],
    ])('%j', (query, want) => expect(selectFields(items[0], query)).toEqual(want));
  });

  it('pages with limit and marker', () => {
    expect(listView(items, { limit: '1', marker: 'a' }).map((i) => i.id)).toEqual(['b']);
  });

  describe('resourceBody', () => {
    const fields = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return [(e as NuboError).code, (e as NuboError).details.field, (e as NuboError).message];
      }
      return undefined;
    };
    it.each([
      [{ network: { name: 'x', color: 'red' } }, ['validation', 'color', "Unrecognized attribute(s) 'color'"]],
      [{ net: {} }, ['validation', 'network', 'Resource body required']],
      [{ network: [] }, ['validation', 'network', 'Resource body required']],
      [null, ['validation', 'network', 'Resource body required']],
    ])('refuses %j', (body, want) => expect(fields(() => resourceBody(body, 'network', ['name']))).toEqual(want));
    it('gives the inner object', () => expect(resourceBody({ network: { name: 'x' } }, 'network', ['name'])).toEqual({ name: 'x' }));
  });
});
