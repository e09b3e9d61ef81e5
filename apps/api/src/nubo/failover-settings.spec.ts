import { parseFailoverSettings } from './failover-settings.controller';

const fieldOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    return (error as { details?: { field?: string } }).details?.field;
  }
  return undefined;
};

describe('parseFailoverSettings', () => {
  it('reads the switch', () => {
    expect(parseFailoverSettings({ failover: { enabled: false } })).toEqual({ enabled: false });
    expect(parseFailoverSettings({ failover: { enabled: true } })).toEqual({ enabled: true });
  });

  it.each([
    ['no body', undefined, 'body'],
    ['no failover', {}, 'failover'],
    ['a string', { failover: { enabled: 'yes' } }, 'enabled'],
    ['missing enabled', { failover: {} }, 'enabled'],
    ['an unknown key', { failover: { enabled: true, driver: 'ipmi' } }, 'failover'],
    ['an unknown top key', { failover: { enabled: true }, x: 1 }, 'body'],
  ])('refuses %s naming %s', (_what, body, field) => {
    expect(fieldOf(() => parseFailoverSettings(body))).toBe(field);
  });
});
