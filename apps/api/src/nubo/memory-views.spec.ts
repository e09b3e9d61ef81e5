import { validationFieldOf } from '@nubo/testing';
import { balloonView, checkBalloonTarget, ksmView, parseBalloonBody } from './memory-views';

const MiB = 2 ** 20;

describe('ksmView', () => {
  it('shows the stored heartbeat figures in snake_case', () => {
    const stored = { enabled: true, available: true, run: 1, pagesShared: 10, pagesSharing: 90, pagesUnshared: 3, fullScans: 2 };
    expect(ksmView(stored)).toEqual({ enabled: true, available: true, run: 1, pages_shared: 10, pages_sharing: 90, pages_unshared: 3, full_scans: 2 });
  });

  it.each([[null], [undefined], ['text'], [[1, 2]]])('is null for a host with no figures (%p)', (stored) => {
    expect(ksmView(stored)).toBeNull();
  });

  it('shows null for counters that are missing or not counts', () => {
    expect(ksmView({ enabled: 'yes', run: -1, pagesShared: 1.5, pagesSharing: '7' })).toEqual({
      enabled: false, available: false, run: null, pages_shared: null, pages_sharing: null, pages_unshared: null, full_scans: null,
    });
  });
});

describe('balloonView', () => {
  it.each([
    [{ actualBytes: 512 * MiB, maxBytes: 512 * MiB }, { actual_mb: 512, max_mb: 512 }],
    [{ actualBytes: 300 * MiB + 5, maxBytes: 512 * MiB, targetBytes: 256 * MiB }, { actual_mb: 300, max_mb: 512, target_mb: 256 }],
  ])('shows %j in MiB', (info, balloon) => {
    expect(balloonView(info)).toEqual({ balloon });
  });
});

describe('parseBalloonBody', () => {
  it.each([[{ balloon: { target_mb: 256 } }, 256], [{ balloon: { target_mb: '300' } }, 300]])('takes %j', (body, mb) => {
    expect(parseBalloonBody(body)).toBe(mb);
  });

  it.each([
    [undefined, 'body'],
    [[], 'body'],
    [{}, 'balloon'],
    [{ balloon: 256 }, 'balloon'],
    [{ balloon: {} }, 'target_mb'],
    [{ balloon: { target_mb: 256, actual_mb: 1 } }, 'balloon'],
    [{ balloon: { target_mb: 25.5 } }, 'target_mb'],
    [{ balloon: { target_mb: 'lots' } }, 'target_mb'],
    [{ balloon: { target_mb: null } }, 'target_mb'],
  ])('refuses %j naming %s', (body, field) => {
    expect(validationFieldOf(() => parseBalloonBody(body))).toBe(field);
    expect(() => parseBalloonBody(body)).toThrow(`Invalid input for field/attribute ${field}.`);
  });
});

describe('checkBalloonTarget', () => {
  it.each([
    [128, 512, true],
    [512, 512, true],
    [127, 512, false],
    [513, 512, false],
    [64, 128, true],
    [63, 128, false],
  ])('%i MiB for a %i MiB flavor: allowed=%s', (target, ram, ok) => {
    if (ok) expect(checkBalloonTarget(target, ram)).toBe(target);
    else expect(() => checkBalloonTarget(target, ram)).toThrow(/Invalid input for field\/attribute target_mb\. .* (less than the minimum|greater than the maximum)/);
  });
});
