import { MigrationStatusReply } from '@nubo/contracts';
import { MIN_POLL_MS, RUNNING_FRACTION, nextPollDelayMs, sampleOf } from './live-migration-poll-delay';

const MiB = 2 ** 20;
const status = (processedMib: number, remainingMib: number, disk?: [number, number]): MigrationStatusReply => ({
  phase: 'active',
  memory: { totalBytes: 1024 * MiB, processedBytes: processedMib * MiB, remainingBytes: remainingMib * MiB },
  ...(disk ? { disk: { totalBytes: 1024 * MiB, processedBytes: disk[0] * MiB, remainingBytes: disk[1] * MiB } } : {}),
});

describe('nextPollDelayMs', () => {
  it.each([
    { name: 'the first poll: soon, for a rate', s: status(10, 1000), prev: undefined, interval: 500, want: 4 * MIN_POLL_MS },
    { name: 'the first poll never waits past the interval', s: status(10, 1000), prev: undefined, interval: 50, want: 50 },
    { name: '100 MiB left at 1 MiB/ms: 100 ms', s: status(200, 100), prev: { at: 0, processedBytes: 100 * MiB, remainingBytes: 0 }, interval: 500, want: 100 },
    { name: 'far from done: the configured interval', s: status(200, 5000), prev: { at: 0, processedBytes: 100 * MiB, remainingBytes: 0 }, interval: 500, want: 500 },
    { name: 'almost done: the floor', s: status(200, 0.1), prev: { at: 0, processedBytes: 100 * MiB, remainingBytes: 0 }, interval: 500, want: MIN_POLL_MS },
    { name: 'nothing moved (setup, stalled): the interval', s: status(100, 100), prev: { at: 0, processedBytes: 100 * MiB, remainingBytes: 0 }, interval: 500, want: 500 },
    { name: 'disk remaining counts too', s: status(100, 0, [200, 300]), prev: { at: 0, processedBytes: 200 * MiB, remainingBytes: 0 }, interval: 500, want: 300 },
    { name: 'zero pages: remaining falls fast while little is sent', s: status(101, 100), prev: { at: 0, processedBytes: 100 * MiB, remainingBytes: 1000 * MiB }, interval: 500, want: MIN_POLL_MS },
    { name: 'remaining fell by 100 MiB in 100 ms, 300 left: 300 ms', s: status(101, 300), prev: { at: 0, processedBytes: 100 * MiB, remainingBytes: 400 * MiB }, interval: 500, want: 300 },
  ])('$name', ({ s, prev, interval, want }) => {
    expect(nextPollDelayMs(sampleOf(s, 100), prev, interval)).toBe(want);
  });

  describe('bounded by the time the migration has run', () => {
    const moved = { at: 0, processedBytes: 100 * MiB, remainingBytes: 0 };
    it.each([
      { name: 'nothing moved 160 ms in: an eighth of it', s: status(100, 100), prev: moved, runningFor: 160, want: 160 / RUNNING_FRACTION },
      { name: 'nothing moved 40 ms in: the floor', s: status(100, 100), prev: moved, runningFor: 40, want: MIN_POLL_MS },
      { name: 'nothing moved 10 s in: the interval', s: status(100, 100), prev: moved, runningFor: 10_000, want: 500 },
      { name: 'far from done 800 ms in: 100 ms', s: status(200, 5000), prev: moved, runningFor: 800, want: 100 },
      { name: 'near the end by the rate: the rate wins', s: status(200, 30), prev: moved, runningFor: 800, want: 30 },
      { name: 'the first poll right after the start: the floor', s: status(0, 1000), prev: undefined, runningFor: 5, want: MIN_POLL_MS },
    ])('$name', ({ s, prev, runningFor, want }) => {
      expect(nextPollDelayMs(sampleOf(s, 100), prev, 500, runningFor)).toBe(want);
    });
  });
});
