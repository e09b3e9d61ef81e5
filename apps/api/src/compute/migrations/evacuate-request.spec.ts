import { ValidationError } from '@nubo/contracts';
import { generatePassword, parseEvacuate } from './evacuate-request';

const body = (o: unknown) => ({ evacuate: o });
const fieldOf = (f: () => unknown) => {
  try {
    f();
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return (error as ValidationError).details.field;
  }
  throw new Error('no error');
};

describe('parseEvacuate', () => {
  describe('before 2.14', () => {
    it.each([
      ['2.1', { onSharedStorage: false, adminPass: 'secret' }, { host: null, force: false, adminPass: 'secret' }],
      ['2.1', { onSharedStorage: 'True', host: 'h2' }, { host: 'h2', force: false, adminPass: null }],
      ['2.13', { onSharedStorage: true }, { host: null, force: false, adminPass: null }],
    ])('%s %j -> %j', (version, given, expected) => {
      expect(parseEvacuate(body(given), version)).toEqual(expected);
    });

    it('generates an adminPass on local storage when none is given', () => {
      const parsed = parseEvacuate(body({ onSharedStorage: false }), '2.1');
      expect(parsed.adminPass).toMatch(/^[A-Za-z0-9]{12}$/);
    });
  });

  describe('from 2.14', () => {
    it.each([
      ['2.14', {}, { host: null, force: false }],
      ['2.14', { host: 'h2', adminPass: 'x' }, { host: 'h2', force: false }],
      ['2.29', { host: 'h2', force: true }, { host: 'h2', force: true }],
      ['2.30', { host: 'h2', force: 'false' }, { host: 'h2', force: false }],
    ])('%s %j -> %j (no adminPass in the answer)', (version, given, expected) => {
      expect(parseEvacuate(body(given), version)).toEqual(expected);
    });
  });

  it.each([
    ['the action not an object', '2.14', 'x', 'evacuate'],
    ['onSharedStorage missing before 2.14', '2.1', {}, 'onSharedStorage'],
    ['onSharedStorage not a boolean', '2.1', { onSharedStorage: 'maybe' }, 'onSharedStorage'],
    ['onSharedStorage from 2.14', '2.14', { onSharedStorage: true }, 'evacuate'],
    ['adminPass on shared storage', '2.1', { onSharedStorage: true, adminPass: 'x' }, 'adminPass'],
    ['adminPass not a string', '2.14', { adminPass: 12 }, 'adminPass'],
    ['an empty host', '2.14', { host: '' }, 'host'],
    ['a host with a space', '2.14', { host: 'a b' }, 'host'],
    ['a host that is a number', '2.14', { host: 3 }, 'host'],
    ['a host too long', '2.14', { host: 'h'.repeat(256) }, 'host'],
    ['force before 2.29', '2.28', { host: 'h2', force: true }, 'evacuate'],
    ['force not a boolean', '2.29', { host: 'h2', force: 'sure' }, 'force'],
    ['force without a host', '2.29', { force: true }, 'force'],
    ['an unknown key', '2.30', { host: 'h2', x: 1 }, 'evacuate'],
  ])('400 naming the field: %s', (_what, version, given, field) => {
    expect(fieldOf(() => parseEvacuate(body(given), version))).toBe(field);
  });
});

describe('generatePassword', () => {
  it('makes different 12-character passwords', () => {
    const a = generatePassword();
    expect(a).toHaveLength(12);
    expect(generatePassword()).not.toBe(a);
  });
});
