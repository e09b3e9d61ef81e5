import { ValidationError } from '@nubo/contracts';
import { parseMigrate } from './cold-migrate-request';

describe('parseMigrate', () => {
  it('takes {"migrate": null}', () => {
    expect(() => parseMigrate({ migrate: null })).not.toThrow();
  });

  it.each<[string, unknown, string]>([
    ['an empty object', {}, "{} is not of type 'null'"],
    ['a host (2.56, not served)', { host: 'h2' }, `{"host":"h2"} is not of type 'null'`],
    ['a string', 'h2', `"h2" is not of type 'null'`],
    ['false', false, "false is not of type 'null'"],
    ['a number', 0, "0 is not of type 'null'"],
    ['a list', [], "[] is not of type 'null'"],
  ])('400 naming migrate for %s', (_what, value, reason) => {
    let caught: unknown;
    try {
      parseMigrate({ migrate: value });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ValidationError);
    expect((caught as ValidationError).details.field).toBe('migrate');
    expect((caught as ValidationError).message).toBe(`Invalid input for field/attribute migrate. Value: ${JSON.stringify(value)}. ${reason}`);
  });
});
