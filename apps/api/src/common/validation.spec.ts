import { validationFieldOf } from '@nubo/testing';
import { ValidationError } from '@nubo/contracts';
import { onlyKeys, optionalInt, requireObject, requireString, requireStringOrInt } from './validation';

const fieldOf = validationFieldOf;

describe('validation', () => {
  it.each([
    ['missing object', () => requireObject(undefined, 'server'), 'server'],
    ['array for object', () => requireObject([], 'server'), 'server'],
    ['missing string', () => requireString({}, 'name'), 'name'],
    ['number for string', () => requireString({ name: 5 }, 'name'), 'name'],
    ['too long', () => requireString({ name: 'x'.repeat(256) }, 'name', { max: 255 }), 'name'],
    ['empty', () => requireString({ name: '' }, 'name', { min: 1 }), 'name'],
    ['padded', () => requireString({ name: ' a' }, 'name', { trimmed: true }), 'name'],
    ['bool for id', () => requireStringOrInt({ flavorRef: true }, 'flavorRef'), 'flavorRef'],
    ['float for int', () => optionalInt({ min_count: 1.5 }, 'min_count'), 'min_count'],
    ['below minimum', () => optionalInt({ min_count: 0 }, 'min_count', { min: 1 }), 'min_count'],
    ['unknown key', () => onlyKeys({ name: 'a', bogus: 1 }, 'server', ['name']), 'server'],
  ])('names the field: %s', (_what, fn, field) => {
    expect(fieldOf(fn)).toBe(field);
  });

  it('accepts good values', () => {
    expect(requireString({ name: 'vm-1' }, 'name', { min: 1, max: 255 })).toBe('vm-1');
    expect(requireStringOrInt({ flavorRef: 42 }, 'flavorRef')).toBe('42');
    expect(optionalInt({ n: '3' }, 'n')).toBe(3);
  });

  it('writes Nova-style messages', () => {
    expect(() => requireString({}, 'name')).toThrow("Invalid input for field/attribute name. Value: None. 'name' is a required property");
  });
});
