import { NotFoundError, ValidationError } from '@nubo/contracts';
import { validationFieldOf } from '@nubo/testing';
import { parseAggregateAction, parseAggregateId, parseCreateAggregate, parseUpdateAggregate } from './aggregate-request';

describe('aggregate requests', () => {
  describe('parseCreateAggregate', () => {
    it.each([
      [{ aggregate: { name: 'agg1' } }, { name: 'agg1', availabilityZone: null }],
      [{ aggregate: { name: 'agg1', availability_zone: 'az1' } }, { name: 'agg1', availabilityZone: 'az1' }],
      [{ aggregate: { name: 'agg 1', availability_zone: null } }, { name: 'agg 1', availabilityZone: null }],
      [{ aggregate: { name: 'café', availability_zone: 'zone é' } }, { name: 'café', availabilityZone: 'zone é' }],
    ])('reads %j', (body, expected) => {
      expect(parseCreateAggregate(body)).toEqual(expected);
    });

    it.each([
      ['no aggregate', {}, 'aggregate'],
      ['extra top key', { aggregate: { name: 'a' }, x: 1 }, 'body'],
      ['missing name', { aggregate: {} }, 'name'],
      ['empty name', { aggregate: { name: '' } }, 'name'],
      ['padded name', { aggregate: { name: ' a' } }, 'name'],
      ['name with a newline', { aggregate: { name: 'a\nb' } }, 'name'],
      ['name past 255', { aggregate: { name: 'a'.repeat(256) } }, 'name'],
      ['numeric name', { aggregate: { name: 5 } }, 'name'],
      ['zone with a colon', { aggregate: { name: 'a', availability_zone: 'az:1' } }, 'availability_zone'],
      ['empty zone', { aggregate: { name: 'a', availability_zone: '' } }, 'availability_zone'],
      ['padded zone', { aggregate: { name: 'a', availability_zone: 'az1 ' } }, 'availability_zone'],
      ['unknown key', { aggregate: { name: 'a', hosts: [] } }, 'aggregate'],
    ])('refuses %s naming %j', (_what, body, field) => {
      expect(validationFieldOf(() => parseCreateAggregate(body))).toBe(field);
    });

    it("answers Nova's message for a name that is not printable", () => {
      expect(() => parseCreateAggregate({ aggregate: { name: 'a\tb' } })).toThrow(
        "Invalid input for field/attribute name. Value: \"a\\tb\". An invalid 'name' value was provided. The name must be: printable characters. Can not start or end with whitespace.",
      );
    });
  });

  describe('parseUpdateAggregate', () => {
    it.each([
      [{ aggregate: { name: '  new  ' } }, { name: 'new' }],
      [{ aggregate: { availability_zone: 'az2' } }, { availabilityZone: 'az2' }],
      [{ aggregate: { availability_zone: null } }, { availabilityZone: null }],
      [{ aggregate: { name: 'n', availability_zone: 'z' } }, { name: 'n', availabilityZone: 'z' }],
    ])('reads %j', (body, expected) => {
      expect(parseUpdateAggregate(body)).toEqual(expected);
    });

    it.each([
      ['neither key', { aggregate: {} }, 'aggregate'],
      ['blank name', { aggregate: { name: '   ' } }, 'name'],
      ['zone with a colon', { aggregate: { availability_zone: 'a:b' } }, 'availability_zone'],
      ['unknown key', { aggregate: { name: 'a', metadata: {} } }, 'aggregate'],
    ])('refuses %s naming %j', (_what, body, field) => {
      expect(validationFieldOf(() => parseUpdateAggregate(body))).toBe(field);
    });
  });

  describe('parseAggregateAction', () => {
    it.each([
      [{ add_host: { host: 'nubo-h1' } }, { action: 'add_host', host: 'nubo-h1' }],
      [{ remove_host: { host: 'h_1.example' } }, { action: 'remove_host', host: 'h_1.example' }],
      [{ set_metadata: { metadata: { k: 'v', gone: null, 'a:b. c-d_e': '' } } },
        { action: 'set_metadata', metadata: { k: 'v', gone: null, 'a:b. c-d_e': '' } }],
      [{ set_metadata: { metadata: { availability_zone: 'az2' } } }, { action: 'set_metadata', metadata: { availability_zone: 'az2' } }],
    ])('reads %j', (body, expected) => {
      expect(parseAggregateAction(body)).toEqual(expected);
    });

    it.each([
      ['no action', {}, 'body'],
      ['two actions', { add_host: { host: 'a' }, remove_host: { host: 'a' } }, 'body'],
      ['an unknown action', { cache: [] }, 'action'],
      ['a host list', { add_host: { host: ['a'] } }, 'host'],
      ['no host', { add_host: {} }, 'host'],
      ['a host with a slash', { add_host: { host: 'a/b' } }, 'host'],
      ['an empty host', { remove_host: { host: '' } }, 'host'],
      ['extra host keys', { add_host: { host: 'a', force: true } }, 'add_host'],
      ['no metadata', { set_metadata: {} }, 'metadata'],
      ['a key with a slash', { set_metadata: { metadata: { 'a/b': 'v' } } }, 'metadata'],
      ['a key past 255', { set_metadata: { metadata: { ['k'.repeat(256)]: 'v' } } }, 'metadata'],
      ['a number value', { set_metadata: { metadata: { k: 1 } } }, 'metadata/k'],
      ['a value past 255', { set_metadata: { metadata: { k: 'v'.repeat(256) } } }, 'metadata/k'],
      ['a zone with a colon', { set_metadata: { metadata: { availability_zone: 'a:b' } } }, 'metadata/availability_zone'],
    ])('refuses %s naming %j', (_what, body, field) => {
      expect(validationFieldOf(() => parseAggregateAction(body))).toBe(field);
    });
  });

  describe('parseAggregateId', () => {
    it('reads an integer', () => expect(parseAggregateId('12')).toBe(12));
    it.each(['abc', '1.5', '', 'agg1'])('answers 400 for %j', (id) => {
      expect(() => parseAggregateId(id)).toThrow(ValidationError);
    });
    it.each(['0', '-1', '2147483648', '99999999999999999999'])('answers 404 for %j', (id) => {
      expect(() => parseAggregateId(id)).toThrow(NotFoundError);
    });
  });
});
