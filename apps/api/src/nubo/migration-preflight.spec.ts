import { ValidationError } from '@nubo/contracts';
import { MAX_ROUNDS, downtimeLimitOf, parsePreflightSeconds, predictPrecopy } from './migration-preflight';

describe('predictPrecopy', () => {
  it.each([
    // ram, dirty, bandwidth, downtime -> converges, rounds, total ms
    { name: 'an idle guest: one full round, then nothing', ram: 1024, dirty: 0, bw: 1024, dt: 300, converges: true, rounds: 2, totalMs: 1000 },
    { name: 'RAM that fits in the downtime at once', ram: 256, dirty: 5000, bw: 1024, dt: 300, converges: true, rounds: 1, totalMs: 250 },
    { name: 'dirty at a quarter of the bandwidth', ram: 1024, dirty: 256, bw: 1024, dt: 300, converges: true, rounds: 2, totalMs: 1250 },
    { name: 'dirty at half: 1024, 512, 256 (<= 307.2)', ram: 1024, dirty: 512, bw: 1024, dt: 300, converges: true, rounds: 3, totalMs: 1750 },
    { name: 'dirty rate equal to the bandwidth', ram: 1024, dirty: 1024, bw: 1024, dt: 300, converges: false, rounds: null, totalMs: null },
    { name: 'dirty rate above the bandwidth', ram: 4096, dirty: 2000, bw: 100, dt: 300, converges: false, rounds: null, totalMs: null },
    { name: 'no bandwidth', ram: 1024, dirty: 0, bw: 0, dt: 300, converges: false, rounds: null, totalMs: null },
    { name: 'dirty just below the bandwidth: too many rounds', ram: 4096, dirty: 999, bw: 1000, dt: 10, converges: false, rounds: null, totalMs: null },
  ])('$name', ({ ram, dirty, bw, dt, converges, rounds, totalMs }) => {
    const p = predictPrecopy({ ramMib: ram, dirtyRateMibS: dirty, bandwidthMibS: bw, downtimeLimitMs: dt });
    expect(p.predictedConverges).toBe(converges);
    expect(p.rounds).toBe(rounds);
    if (totalMs === null) expect(p.predictedTotalMs).toBeNull();
    else expect(p.predictedTotalMs).toBeCloseTo(totalMs, 6);
    expect(p.reason.length).toBeGreaterThan(10);
  });

  it('takes more time as the dirty rate grows, and never more than MAX_ROUNDS rounds', () => {
    const totals = [0, 100, 300, 600, 900].map((dirty) => predictPrecopy({ ramMib: 2048, dirtyRateMibS: dirty, bandwidthMibS: 1000, downtimeLimitMs: 300 }));
    for (let i = 1; i < totals.length; i++) expect(totals[i].predictedTotalMs!).toBeGreaterThan(totals[i - 1].predictedTotalMs!);
    expect(Math.max(...totals.map((t) => t.rounds!))).toBeLessThanOrEqual(MAX_ROUNDS);
  });
});

describe('parsePreflightSeconds', () => {
  it.each([
    [undefined, 2],
    ['1', 1],
    ['10', 10],
  ])('%s -> %s', (raw, want) => expect(parsePreflightSeconds(raw, 2)).toBe(want));

  it.each(['0', '11', '2.5', 'x', '', '-1'])('refuses %p naming seconds', (raw) => {
    let thrown: unknown;
    try {
      parsePreflightSeconds(raw, 2);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ValidationError);
    expect((thrown as ValidationError).details).toEqual({ field: 'seconds' });
  });
});

describe('downtimeLimitOf', () => {
  it.each([
    [{}, 300],
    [{ 'hw:live_migration_downtime': '500' }, 500],
    [{ 'hw:live_migration_downtime': ' 50 ' }, 50],
    [{ 'hw:live_migration_downtime': '0' }, 300],
    [{ 'hw:live_migration_downtime': 'fast' }, 300],
  ])('%j -> %s', (specs, want) => expect(downtimeLimitOf(specs as Record<string, string>, 300)).toBe(want));
});
