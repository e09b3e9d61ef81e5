import { HostState } from '@nubo/contracts';
import { HostLiveness, planRecovery, trustsLeaseExpiry } from './recovery-policy';

const policy = { stormPercent: 50, selfFenceMarginMs: 2_000, downAfterMs: 10_000, settleMs: 2_000, stormWindowMs: 60_000 };
/** Down and fenced hosts silent for 13 s unless told (past the settle time); up ones 0. */
const host = (id: string, state: string, leaseExpiredForMs: number | null = 1_000, silentForMs = state === 'up' ? 0 : 13_000): HostLiveness => ({
  id,
  state,
  leaseExpiredForMs,
  silentForMs,
});

describe('planRecovery', () => {
  it.each([
    ['all up: nothing', [host('h1', HostState.Up), host('h2', HostState.Up), host('h3', HostState.Up)], { fence: [] }],
    ['one of three down, lease over: fence it', [host('h1', HostState.Down), host('h2', HostState.Up), host('h3', HostState.Up)], { fence: ['h1'] }],
    ['down while the lease runs: fenced all the same (declared dead)', [host('h1', HostState.Down, -3_000), host('h2', HostState.Up), host('h3', HostState.Up)], { fence: ['h1'] }],
    ['down and never leased: fence it', [host('h1', HostState.Down, null), host('h2', HostState.Up)], { fence: ['h1'] }],
    ['fenced already: nothing', [host('h1', HostState.Fenced), host('h2', HostState.Up)], { fence: [] }],
    ['one of two down is 50%, not more: fence', [host('h1', HostState.Down), host('h2', HostState.Up)], { fence: ['h1'] }],
    ['maintenance hosts are not counted', [host('h1', HostState.Down), host('h2', HostState.Up), host('h3', HostState.Maintenance)], { fence: ['h1'] }],
    ['down for less than the settle time: not yet', [host('h1', HostState.Down, 0, 11_000), host('h2', HostState.Up), host('h3', HostState.Up)], { fence: [] }],
    ['one fenced long ago, one down now: no storm', [host('h1', HostState.Fenced, 0, 600_000), host('h2', HostState.Down), host('h3', HostState.Up)], { fence: ['h2'] }],
  ])('%s', (_what, hosts, expected) => {
    expect(planRecovery(hosts, policy)).toEqual(expected);
  });

  it('counts a host fenced a moment ago with one going down now as a storm (down one by one)', () => {
    const plan = planRecovery([host('h1', HostState.Fenced, 0, 14_000), host('h2', HostState.Down, 0, 12_500), host('h3', HostState.Up)], policy);
    expect(plan.fence).toEqual([]);
    expect(plan.storm).toMatch(/^2 of 3 hosts/);
  });

  it('counts a host the registry has not marked down yet, once it missed half the down timeout', () => {
    const plan = planRecovery([host('h1', HostState.Down, 0, 12_500), host('h2', HostState.Up, 0, 11_600), host('h3', HostState.Up)], policy);
    expect(plan.fence).toEqual([]);
    expect(plan.storm).toMatch(/^2 of 3 hosts are silent at once \(h1, h2\)/);
    // A host late by a heartbeat or two is no storm.
    expect(planRecovery([host('h1', HostState.Down, 0, 12_500), host('h2', HostState.Up, 0, 2_000), host('h3', HostState.Up)], policy)).toEqual({ fence: ['h1'] });
  });

  it('holds back when more than the share go silent at once, and says why', () => {
    const plan = planRecovery([host('h1', HostState.Down), host('h2', HostState.Down), host('h3', HostState.Up)], policy);
    expect(plan.fence).toEqual([]);
    expect(plan.storm).toBe(
      '2 of 3 hosts are silent at once (h1, h2), more than 50%: a control-plane partition, not host deaths; nothing is fenced automatically',
    );
  });
});

describe('trustsLeaseExpiry', () => {
  it.each([
    [null, false],
    [-1, false],
    [2_000, false],
    [2_001, true],
  ])('lease expired for %j ms -> %j', (ms, expected) => {
    expect(trustsLeaseExpiry(host('h', HostState.Down, ms), policy)).toBe(expected);
  });
});
