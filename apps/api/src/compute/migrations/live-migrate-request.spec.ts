import { ValidationError } from '@nubo/contracts';
import { parseForceComplete, parseLiveMigrate } from './live-migrate-request';

const body = (o: Record<string, unknown>) => ({ 'os-migrateLive': o });
const fieldOf = (f: () => unknown) => {
  try {
    f();
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return (error as ValidationError).details.field;
  }
  throw new Error('no error');
};

describe('parseLiveMigrate', () => {
  describe('at 2.1', () => {
    it.each([
      [{ host: null, block_migration: false, disk_over_commit: false }, { host: null, blockMigration: false, forceDestination: false }],
      // Before 2.30 a named host bypasses the scheduler's filters (Nova's behaviour then).
      [{ host: 'h2', block_migration: true, disk_over_commit: 'False' }, { host: 'h2', blockMigration: true, forceDestination: true }],
      [{ host: null, block_migration: 'yes', disk_over_commit: '0' }, { host: null, blockMigration: true, forceDestination: false }],
    ])('%j -> %j', (given, expected) => {
      expect(parseLiveMigrate(body(given))).toEqual(expected);
    });

    it.each([
      ['block_migration missing', { host: null, disk_over_commit: false }, 'block_migration'],
      ['disk_over_commit missing', { host: null, block_migration: false }, 'disk_over_commit'],
      ['host missing', { block_migration: false, disk_over_commit: false }, 'host'],
      ['"auto" before 2.25', { host: null, block_migration: 'auto', disk_over_commit: false }, 'block_migration'],
      ['a bad boolean', { host: null, block_migration: 2, disk_over_commit: false }, 'block_migration'],
      ['a bad disk_over_commit', { host: null, block_migration: true, disk_over_commit: 'maybe' }, 'disk_over_commit'],
      ['an empty host', { host: '', block_migration: true, disk_over_commit: false }, 'host'],
      ['a host with a space', { host: 'a b', block_migration: true, disk_over_commit: false }, 'host'],
      ['a host that is a number', { host: 3, block_migration: true, disk_over_commit: false }, 'host'],
      ['force before 2.30', { host: null, block_migration: true, disk_over_commit: false, force: true }, 'os-migrateLive'],
      ['an unknown key', { host: null, block_migration: true, disk_over_commit: false, x: 1 }, 'os-migrateLive'],
    ])('400 naming the field: %s', (_what, given, field) => {
      expect(fieldOf(() => parseLiveMigrate(body(given)))).toBe(field);
    });

    it('400 when the action is not an object', () => {
      expect(fieldOf(() => parseLiveMigrate({ 'os-migrateLive': null }))).toBe('os-migrateLive');
    });
  });

  describe('at 2.25 and 2.30', () => {
    it('takes "auto" and no disk_over_commit at 2.25', () => {
      expect(parseLiveMigrate(body({ host: null, block_migration: 'auto' }), '2.25')).toEqual({ host: null, blockMigration: 'auto', forceDestination: false });
    });

    it('refuses disk_over_commit at 2.25', () => {
      expect(fieldOf(() => parseLiveMigrate(body({ host: null, block_migration: 'auto', disk_over_commit: false }), '2.25'))).toBe('os-migrateLive');
    });

    it.each([
      ['force false: the scheduler checks the host', { host: 'h', block_migration: 'auto', force: false }, { host: 'h', blockMigration: 'auto', force: false, forceDestination: false }],
      ['no force: the scheduler checks the host', { host: 'h', block_migration: 'auto' }, { host: 'h', blockMigration: 'auto', forceDestination: false }],
      ['force true: the host as given', { host: 'h', block_migration: 'auto', force: 'True' }, { host: 'h', blockMigration: 'auto', force: true, forceDestination: true }],
      ['force false, no host', { host: null, block_migration: false, force: false }, { host: null, blockMigration: false, force: false, forceDestination: false }],
    ])('at 2.30, %s', (_what, given, expected) => {
      expect(parseLiveMigrate(body(given), '2.30')).toEqual(expected);
    });

    it.each([
      ['force without a host', { host: null, block_migration: 'auto', force: true }, 'force'],
      ['a bad force', { host: 'h', block_migration: 'auto', force: 'maybe' }, 'force'],
    ])('at 2.30, 400 naming the field: %s', (_what, given, field) => {
      expect(fieldOf(() => parseLiveMigrate(body(given), '2.30'))).toBe(field);
    });

    it("says Nova's words when force has no host", () => {
      expect(() => parseLiveMigrate(body({ host: null, block_migration: 'auto', force: true }), '2.30')).toThrow("Can't force to a non-provided destination");
    });
  });
});

describe('parseForceComplete', () => {
  it('takes {"force_complete": null}', () => {
    expect(() => parseForceComplete({ force_complete: null })).not.toThrow();
  });

  it.each([
    [{}, 'force_complete'],
    [{ force_complete: {} }, 'force_complete'],
    [{ force_complete: null, other: 1 }, 'body'],
    [null, 'body'],
  ])('%j: 400 naming %s', (given, field) => {
    expect(fieldOf(() => parseForceComplete(given))).toBe(field);
  });
});
