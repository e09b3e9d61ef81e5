import { downtimeBaseMs, maxBandwidthMibs, nextConvergenceAction, postcopyAllowed } from './server-live-migrate-policy';

const settings = { convergeAfterMs: 10_000, downtimeSteps: 3, timeoutMs: 60_000 };
const base = { elapsedMs: 0, sinceEscalationMs: 0, downtimeBaseMs: 300, downtimeStep: 0, postcopyAllowed: false, postcopy: false, forceComplete: false };

describe('nextConvergenceAction', () => {
  it.each([
    ['waits while the period has not passed', { elapsedMs: 9_999, sinceEscalationMs: 9_999 }, { kind: 'wait' }],
    ['steps the downtime up after a period', { elapsedMs: 10_000, sinceEscalationMs: 10_000 }, { kind: 'downtime', step: 1, downtimeMs: 600 }],
    ['steps again from the step reached', { elapsedMs: 30_000, sinceEscalationMs: 10_000, downtimeStep: 2 }, { kind: 'downtime', step: 3, downtimeMs: 2_400 }],
    ['waits once the steps are spent without post-copy', { elapsedMs: 50_000, sinceEscalationMs: 20_000, downtimeStep: 3 }, { kind: 'wait' }],
    ['goes post-copy once the steps are spent when allowed', { elapsedMs: 50_000, sinceEscalationMs: 10_000, downtimeStep: 3, postcopyAllowed: true }, { kind: 'postcopy' }],
    ['aborts at the timeout without post-copy', { elapsedMs: 60_000, sinceEscalationMs: 1_000, downtimeStep: 1 }, { kind: 'abort', reason: 'timeout' }],
    ['goes post-copy at the timeout when allowed', { elapsedMs: 60_000, sinceEscalationMs: 1_000, postcopyAllowed: true }, { kind: 'postcopy' }],
    ['never aborts in post-copy', { elapsedMs: 600_000, sinceEscalationMs: 600_000, postcopy: true }, { kind: 'wait' }],
    ['forces completion with post-copy when allowed', { forceComplete: true, postcopyAllowed: true }, { kind: 'postcopy' }],
    ['forces completion with the largest downtime otherwise', { forceComplete: true }, { kind: 'downtime', step: 3, downtimeMs: 2_400 }],
    ['a forced completion already at the largest downtime waits', { forceComplete: true, downtimeStep: 3 }, { kind: 'wait' }],
  ])('%s', (_what, state, expected) => {
    expect(nextConvergenceAction({ ...base, ...state }, settings)).toEqual(expected);
  });

  it('never steps when no downtime steps are configured', () => {
    expect(nextConvergenceAction({ ...base, elapsedMs: 20_000, sinceEscalationMs: 20_000 }, { ...settings, downtimeSteps: 0 })).toEqual({ kind: 'wait' });
  });
});

describe('postcopyAllowed', () => {
  it.each([
    [{}, {}, false],
    [{ 'nubo:live_migration_postcopy': 'true' }, {}, true],
    [{}, { 'nubo:live_migration_postcopy': 'True' }, true],
    [{ 'nubo:live_migration_postcopy': 'false' }, { 'nubo:live_migration_postcopy': 'true' }, false],
    [{ 'nubo:live_migration_postcopy': 'maybe' }, {}, false],
  ])('extra specs %j, metadata %j: %s', (specs, meta, expected) => {
    expect(postcopyAllowed(specs as Record<string, string>, meta as Record<string, string>)).toBe(expected);
  });
});

describe('downtimeBaseMs', () => {
  it.each([
    [{}, 300],
    [{ 'hw:live_migration_downtime': '500' }, 500],
    [{ 'hw:live_migration_downtime': '0' }, 300],
    [{ 'hw:live_migration_downtime': 'fast' }, 300],
    [{ 'hw:live_migration_downtime': '-5' }, 300],
  ])('%j -> %d', (specs, expected) => {
    expect(downtimeBaseMs(specs as Record<string, string>, 300)).toBe(expected);
  });
});

describe('maxBandwidthMibs', () => {
  it.each([
    [{}, {}, 10_240],
    [{ 'nubo:live_migration_max_bandwidth': '1' }, {}, 1],
    [{}, { 'nubo:live_migration_max_bandwidth': ' 8 ' }, 8],
    [{ 'nubo:live_migration_max_bandwidth': '4' }, { 'nubo:live_migration_max_bandwidth': '8' }, 4],
    [{}, { 'nubo:live_migration_max_bandwidth': '999999' }, 10_240],
    [{}, { 'nubo:live_migration_max_bandwidth': '0' }, 10_240],
    [{}, { 'nubo:live_migration_max_bandwidth': '1.5' }, 10_240],
    [{}, { 'nubo:live_migration_max_bandwidth': 'slow' }, 10_240],
  ])('extra specs %j, metadata %j -> %d MiB/s', (specs, meta, expected) => {
    expect(maxBandwidthMibs(specs as Record<string, string>, meta as Record<string, string>, 10_240)).toBe(expected);
  });
});
