import { validationFieldOf } from '@nubo/testing';
import { ValidationError } from '@nubo/contracts';
import { parseCreateFlavor, parseCreateSpecs, parseFlavorAction, parseSpecs } from './flavor-request';

const fieldOf = validationFieldOf;

const base = { name: 'm1.test', ram: 512, vcpus: 1, disk: 1 };

describe('flavor requests', () => {
  describe('parseCreateFlavor', () => {
    it('fills Nova\'s defaults', () => {
      expect(parseCreateFlavor({ flavor: base })).toEqual({
        name: 'm1.test', id: undefined, ramMb: 512, vcpus: 1, diskGb: 1, ephemeralGb: 0, swapMb: 0, rxtxFactor: 1, isPublic: true,
      });
    });

    it.each([
      [{ id: 'auto' }, { id: undefined }],
      [{ id: null }, { id: undefined }],
      [{ id: 7 }, { id: '7' }],
      [{ id: 'my.flavor-1' }, { id: 'my.flavor-1' }],
      [{ ram: '1024', vcpus: '2', disk: '0' }, { ramMb: 1024, vcpus: 2, diskGb: 0 }],
      [{ 'OS-FLV-EXT-DATA:ephemeral': 5, swap: 256, rxtx_factor: '2.5' }, { ephemeralGb: 5, swapMb: 256, rxtxFactor: 2.5 }],
      [{ 'os-flavor-access:is_public': false }, { isPublic: false }],
      [{ 'os-flavor-access:is_public': 'false' }, { isPublic: false }],
    ])('reads %j', (extra, expected) => {
      expect(parseCreateFlavor({ flavor: { ...base, ...extra } })).toMatchObject(expected);
    });

    it.each([
      ['no flavor', {}, 'flavor'],
      ['missing name', { flavor: { ram: 1, vcpus: 1, disk: 1 } }, 'name'],
      ['padded name', { flavor: { ...base, name: ' x' } }, 'name'],
      ['missing ram', { flavor: { name: 'x', vcpus: 1, disk: 1 } }, 'ram'],
      ['zero ram', { flavor: { ...base, ram: 0 } }, 'ram'],
      ['negative disk', { flavor: { ...base, disk: -1 } }, 'disk'],
      ['float vcpus', { flavor: { ...base, vcpus: 1.5 } }, 'vcpus'],
      ['word vcpus', { flavor: { ...base, vcpus: 'two' } }, 'vcpus'],
      ['huge ram', { flavor: { ...base, ram: 2 ** 31 } }, 'ram'],
      ['negative swap', { flavor: { ...base, swap: -1 } }, 'swap'],
      ['bad ephemeral', { flavor: { ...base, 'OS-FLV-EXT-DATA:ephemeral': 'x' } }, 'OS-FLV-EXT-DATA:ephemeral'],
      ['zero rxtx', { flavor: { ...base, rxtx_factor: 0 } }, 'rxtx_factor'],
      ['bad id', { flavor: { ...base, id: 'a/b' } }, 'id'],
      ['bool id', { flavor: { ...base, id: true } }, 'id'],
      ['bad is_public', { flavor: { ...base, 'os-flavor-access:is_public': 'perhaps' } }, 'os-flavor-access:is_public'],
      ['unknown key', { flavor: { ...base, description: 'd' } }, 'flavor'],
    ])('names the field: %s', (_what, body, field) => {
      expect(fieldOf(() => parseCreateFlavor(body))).toBe(field);
    });
  });

  describe('extra specs', () => {
    it('stores numbers as strings', () => {
      expect(parseCreateSpecs({ extra_specs: { 'hw:cpu_policy': 'dedicated', 'quota:disk_read_iops_sec': 100 } })).toEqual({
        'hw:cpu_policy': 'dedicated',
        'quota:disk_read_iops_sec': '100',
      });
    });

    it.each([
      ['no extra_specs', () => parseCreateSpecs({}), 'extra_specs'],
      ['bad key', () => parseCreateSpecs({ extra_specs: { 'a/b': 'x' } }), 'extra_specs'],
      ['object value', () => parseCreateSpecs({ extra_specs: { k: {} } }), 'k'],
      ['an unknown storage kind', () => parseCreateSpecs({ extra_specs: { 'nubo:storage': 'nfs' } }), 'nubo:storage'],
      ['long value', () => parseCreateSpecs({ extra_specs: { k: 'x'.repeat(256) } }), 'k'],
      ['two keys on PUT', () => parseSpecs({ a: '1', b: '2' }, 'body', { exactlyOne: true }), 'body'],
      ['no key on PUT', () => parseSpecs({}, 'body', { exactlyOne: true }), 'body'],
    ])('names the field: %s', (_what, fn, field) => {
      expect(fieldOf(fn)).toBe(field);
    });
  });

  describe('parseFlavorAction', () => {
    it.each([
      [{ addTenantAccess: { tenant: 'p1' } }, { add: 'p1' }],
      [{ removeTenantAccess: { tenant: 'p2' } }, { remove: 'p2' }],
    ])('reads %j', (body, action) => {
      expect(parseFlavorAction(body)).toEqual(action);
    });

    it.each([
      ['unknown action', { resize: {} }, 'body'],
      ['no tenant', { addTenantAccess: {} }, 'tenant'],
    ])('names the field: %s', (_what, body, field) => {
      expect(fieldOf(() => parseFlavorAction(body))).toBe(field);
    });
  });
});
