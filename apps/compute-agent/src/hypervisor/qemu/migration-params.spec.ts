import { MigrationParameters } from '@nubo/contracts';
import { migrationStatusOf, sourceCapabilities, sourceParameters, destinationCapabilities, destinationParameters, validateMigrationParameters } from './migration-params';

const base: MigrationParameters = { maxBandwidthBytesPerSec: 1.25e9, downtimeLimitMs: 500, multifdChannels: 4, autoConverge: true, postcopyAllowed: true, xbzrleCacheBytes: 2 ** 26 };
const caps = (list: Array<{ capability: string; state: boolean }>) => Object.fromEntries(list.map((c) => [c.capability, c.state]));

describe('migration-params', () => {
  describe(sourceParameters.name, () => {
    it.each([
      ['everything on', base, { 'max-bandwidth': 1.25e9, 'downtime-limit': 500, 'multifd-channels': 4, 'xbzrle-cache-size': 2 ** 26 }],
      ['one channel, no xbzrle', { ...base, multifdChannels: 1, xbzrleCacheBytes: undefined }, { 'max-bandwidth': 1.25e9, 'downtime-limit': 500 }],
    ])('%s', (_, p, expected) => expect(sourceParameters(p)).toEqual(expected));

    it('lifts max-bandwidth above QEMU default 128 MiB/s when asked', () => expect(sourceParameters(base)['max-bandwidth']).toBeGreaterThan(128 * 2 ** 20));
  });

  describe(sourceCapabilities.name, () => {
    it.each([
      ['memory only', base, false, { multifd: true, 'postcopy-ram': true, 'auto-converge': true, xbzrle: true, 'pause-before-switchover': false, events: false }],
      ['with disks', { ...base, multifdChannels: 0, postcopyAllowed: false, autoConverge: false, xbzrleCacheBytes: undefined }, true,
        { multifd: false, 'postcopy-ram': false, 'auto-converge': false, xbzrle: false, 'pause-before-switchover': true, events: true }],
    ])('%s', (_, p, block, expected) => expect(caps(sourceCapabilities(p, { block }))).toEqual(expected));

    it('gives the destination the capabilities both ends must share', () => {
      expect(caps(destinationCapabilities(base))).toEqual({ multifd: true, 'postcopy-ram': true });
      expect(destinationParameters(base)).toEqual({ 'multifd-channels': 4 });
      expect(destinationParameters({ multifdChannels: 0, postcopyAllowed: false })).toEqual({});
    });
  });

  describe(validateMigrationParameters.name, () => {
    it.each([
      ['parameters.downtimeLimitMs', { downtimeLimitMs: 0 }],
      ['parameters.maxBandwidthBytesPerSec', { maxBandwidthBytesPerSec: -1 }],
      ['parameters.multifdChannels', { multifdChannels: 256 }],
      ['parameters.autoConverge', { autoConverge: 'yes' }],
      ['parameters.xbzrleCacheBytes', { xbzrleCacheBytes: 3 * 2 ** 20 }],
    ])('names %s when it is wrong', (field, bad) => {
      expect(() => validateMigrationParameters({ ...base, ...bad })).toThrow(expect.objectContaining({ details: expect.objectContaining({ field }) }));
    });
    it('accepts valid parameters', () => expect(validateMigrationParameters(base)).toEqual(base));
  });

  describe(migrationStatusOf.name, () => {
    const mirror = (len: number, offset: number) => ({ device: 'mig-mirror-0', type: 'mirror', len, offset, ready: false });
    it.each([
      ['mirroring before migrate', {}, [mirror(100, 40)], { mirroring: true }, { phase: 'mirroring', disk: { totalBytes: 100, processedBytes: 40, remainingBytes: 60 } }],
      ['active', { status: 'active', ram: { total: 10, transferred: 4, remaining: 6, 'dirty-pages-rate': 7 }, 'expected-downtime': 30 }, [], { mirroring: false },
        { phase: 'active', memory: { totalBytes: 10, processedBytes: 4, remainingBytes: 6 }, dirtyPagesRate: 7, expectedDowntimeMs: 30 }],
      ['waiting at switchover', { status: 'pre-switchover' }, [], { mirroring: false }, { phase: 'active' }],
      ['post-copy', { status: 'postcopy-active' }, [], { mirroring: false }, { phase: 'postcopy-active' }],
      ['completed', { status: 'completed', downtime: 12 }, [], { mirroring: false }, { phase: 'completed', downtimeMs: 12 }],
      ['failed', { status: 'failed', 'error-desc': 'Connection refused' }, [], { mirroring: false }, { phase: 'failed', error: 'Connection refused' }],
      ['a mirror failure seen by the agent', { status: 'none' }, [], { mirroring: true, failure: 'mirror broke' }, { phase: 'failed', error: 'mirror broke' }],
      // A former destination answers `completed` for its incoming migration until `migrate` is sent.
      ['a stale completed before migrate', { status: 'completed', downtime: 5 }, [], { mirroring: false, started: false }, { phase: 'setup', memory: { totalBytes: 0 } }],
      ['a stale failed before migrate', { status: 'failed', 'error-desc': 'old' }, [], { mirroring: false, started: false }, { phase: 'setup' }],
      ['a stale completed while mirroring', { status: 'completed' }, [mirror(100, 40)], { mirroring: true, started: false }, { phase: 'mirroring' }],
      ['completed once migrate was sent', { status: 'completed', downtime: 5 }, [], { mirroring: false, started: true }, { phase: 'completed', downtimeMs: 5 }],
    ])('%s', (_, info, jobs, options, expected) => expect(migrationStatusOf(info, jobs, options)).toMatchObject(expected));

    it('reports nothing of an earlier migration before migrate is sent', () => {
      const reply = migrationStatusOf({ status: 'completed', downtime: 5, 'error-desc': 'x' }, [], { mirroring: false, started: false });
      expect(reply).not.toHaveProperty('downtimeMs');
      expect(reply).not.toHaveProperty('error');
    });
  });
});
