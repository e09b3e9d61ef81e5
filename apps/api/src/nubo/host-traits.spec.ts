import { validationFieldOf } from '@nubo/testing';
import { parseTraitsBody } from './host-traits';

describe('parseTraitsBody', () => {
  it.each([
    [{ traits: [] }, []],
    [{ traits: ['CUSTOM_FOO'] }, ['CUSTOM_FOO']],
    [{ traits: ['CUSTOM_GPU_A100', 'CUSTOM_1'] }, ['CUSTOM_GPU_A100', 'CUSTOM_1']],
    [{ traits: [`CUSTOM_${'X'.repeat(250)}`] }, [`CUSTOM_${'X'.repeat(250)}`]],
  ])('reads %j', (body, expected) => {
    expect(parseTraitsBody(body)).toEqual(expected);
  });

  it.each([
    ['no body', undefined, 'body'],
    ['no traits', {}, 'traits'],
    ['an extra key', { traits: [], source: 'admin' }, 'body'],
    ['a string', { traits: 'CUSTOM_FOO' }, 'traits'],
    ['a number', { traits: [1] }, 'traits'],
    ['a standard trait', { traits: ['HW_CPU_X86_AVX2'] }, 'traits'],
    ['lower case', { traits: ['CUSTOM_foo'] }, 'traits'],
    ['a bare prefix', { traits: ['CUSTOM_'] }, 'traits'],
    ['a name past 257', { traits: [`CUSTOM_${'X'.repeat(251)}`] }, 'traits'],
    ['a duplicate', { traits: ['CUSTOM_A', 'CUSTOM_A'] }, 'traits'],
  ])('refuses %s naming %j', (_what, body, field) => {
    expect(validationFieldOf(() => parseTraitsBody(body))).toBe(field);
  });
});
