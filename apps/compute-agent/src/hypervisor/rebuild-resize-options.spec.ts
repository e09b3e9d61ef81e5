import { ValidationError } from '@nubo/contracts';
import { validateRebuildOptions, validateResizeOptions } from './rebuild-resize-options';

describe('validateResizeOptions', () => {
  it('takes powerOn and a grace period', () => {
    expect(validateResizeOptions({ powerOn: true, graceSeconds: 60 })).toEqual({ powerOn: true, graceSeconds: 60 });
  });

  it.each([
    [{ graceSeconds: 1 }, 'powerOn'],
    [{ powerOn: 'yes', graceSeconds: 1 }, 'powerOn'],
    [{ powerOn: true }, 'graceSeconds'],
    [{ powerOn: true, graceSeconds: 301 }, 'graceSeconds'],
    [undefined, 'powerOn'],
  ])('refuses %j naming %s', (value, field) => {
    expect(() => validateResizeOptions(value)).toThrow(ValidationError);
    try {
      validateResizeOptions(value);
    } catch (error) {
      expect((error as ValidationError).details.field).toBe(field);
    }
  });
});

describe('validateRebuildOptions', () => {
  const ok = { powerOn: false, graceSeconds: 0, rebuildId: 'server.rebuild-7c9e6679-7425-40de-944b-e07fc1f90ae7-req-1' };

  it('defaults preserveEphemeral to false', () => {
    expect(validateRebuildOptions(ok)).toEqual({ ...ok, preserveEphemeral: false });
    expect(validateRebuildOptions({ ...ok, preserveEphemeral: true }).preserveEphemeral).toBe(true);
  });

  it.each([
    [{ ...ok, rebuildId: '' }, 'rebuildId'],
    [{ ...ok, rebuildId: '../x' }, 'rebuildId'],
    [{ ...ok, rebuildId: undefined }, 'rebuildId'],
    [{ ...ok, preserveEphemeral: 'true' }, 'preserveEphemeral'],
    [{ ...ok, powerOn: undefined }, 'powerOn'],
  ])('refuses %j naming %s', (value, field) => {
    try {
      validateRebuildOptions(value);
      throw new Error('accepted');
    } catch (error) {
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).details.field).toBe(field);
    }
  });
});
