import { ValidationError } from '@nubo/contracts';
import { validateColdDisks, validateColdExports } from './cold-migration.handlers';

const NAME = 'disk-0123456789abcdef0123456789abcdef';
const fieldOf = (f: () => unknown): string | undefined => {
  try {
    f();
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return (error as ValidationError).details.field as string;
  }
  throw new Error('no error');
};

describe('cold migration requests', () => {
  describe(validateColdDisks.name, () => {
    it.each([
      [[], []],
      [[{ name: 'disk', virtualSize: 1073741824 }], [{ name: 'disk', virtualSize: 1073741824 }]],
      [
        [{ name: 'ephemeral', virtualSize: 512, extra: 'dropped' }, { name: 'disk', virtualSize: 1 }],
        [{ name: 'ephemeral', virtualSize: 512 }, { name: 'disk', virtualSize: 1 }],
      ],
    ])('%j -> %j', (given, expected) => expect(validateColdDisks(given)).toEqual(expected));

    it.each<[string, unknown, string]>([
      ['not a list', { name: 'disk' }, 'disks'],
      ['three disks', [{ name: 'disk', virtualSize: 1 }, { name: 'ephemeral', virtualSize: 1 }, { name: 'disk', virtualSize: 1 }], 'disks'],
      ['a disk twice', [{ name: 'disk', virtualSize: 1 }, { name: 'disk', virtualSize: 2 }], 'disks[1].name'],
      ['an unknown disk', [{ name: '../etc/passwd', virtualSize: 1 }], 'disks[0].name'],
      ['a size of 0', [{ name: 'disk', virtualSize: 0 }], 'disks[0].virtualSize'],
      ['a fractional size', [{ name: 'disk', virtualSize: 1.5 }], 'disks[0].virtualSize'],
      ['a size as text', [{ name: 'disk', virtualSize: '1' }], 'disks[0].virtualSize'],
    ])('400 naming the field: %s', (_what, given, field) => expect(fieldOf(() => validateColdDisks(given))).toBe(field));
  });

  describe(validateColdExports.name, () => {
    it('keeps a valid export', () => {
      expect(validateColdExports([{ disk: 'disk', port: 49500, name: NAME }])).toEqual([{ disk: 'disk', port: 49500, name: NAME }]);
    });

    it.each<[string, unknown, string]>([
      ['not a list', 'x', 'destination.exports'],
      ['port 0', [{ disk: 'disk', port: 0, name: NAME }], 'destination.exports[0].port'],
      ['port 70000', [{ disk: 'disk', port: 70000, name: NAME }], 'destination.exports[0].port'],
      ['a name with a path', [{ disk: 'disk', port: 1, name: 'disk-../../x' }], 'destination.exports[0].name'],
      ['a name that is a URI', [{ disk: 'disk', port: 1, name: 'nbd://10.0.0.1:1/x' }], 'destination.exports[0].name'],
      ['a disk twice', [{ disk: 'disk', port: 1, name: NAME }, { disk: 'disk', port: 2, name: NAME }], 'destination.exports[1].disk'],
    ])('400 naming the field: %s', (_what, given, field) => expect(fieldOf(() => validateColdExports(given))).toBe(field));
  });
});
