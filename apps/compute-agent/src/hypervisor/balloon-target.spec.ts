import { ValidationError, balloonTargetRangeMb } from '@nubo/contracts';
import { BalloonTargets, validateBalloonTarget } from './balloon-target';

const MiB = 2 ** 20;

describe('balloonTargetRangeMb', () => {
  it.each([
    // ram, min (a quarter, at least 64 MiB, at most the RAM), max
    [64, 64, 64],
    [32, 32, 32],
    [128, 64, 128],
    [256, 64, 256],
    [512, 128, 512],
    [2048, 512, 2048],
    [1001, 251, 1001],
  ])('%i MiB of RAM: %i to %i MiB', (ramMb, minMb, maxMb) => {
    expect(balloonTargetRangeMb(ramMb)).toEqual({ minMb, maxMb });
  });
});

describe('validateBalloonTarget', () => {
  it.each([
    [128 * MiB, 128 * MiB],
    [512 * MiB, 512 * MiB],
    [300 * MiB + 1, 300 * MiB + 1],
  ])('accepts %i bytes for 512 MiB of RAM', (target, expected) => {
    expect(validateBalloonTarget(target, 512)).toBe(expected);
  });

  it.each([[128 * MiB - 1], [512 * MiB + 1], [0], [-1], [200 * MiB + 0.5], [Number.NaN], ['268435456'], [null], [undefined]])(
    'refuses %p for 512 MiB of RAM, naming targetBytes and the range',
    (target) => {
      expect(() => validateBalloonTarget(target, 512)).toThrow(ValidationError);
      expect(() => validateBalloonTarget(target, 512)).toThrow(/from 134217728 to 536870912 \(128 to 512 MiB\)/);
    },
  );
});

describe(BalloonTargets.name, () => {
  it('answers a target only for the process it was set on', () => {
    const targets = new BalloonTargets();
    targets.set('a', 100, 5, () => 100);
    expect(targets.get('a', 100)).toBe(5);
    expect(targets.get('a', 101)).toBeUndefined();
    expect(targets.get('a', 100)).toBeUndefined(); // dropped with the stale process
  });

  it('drops targets of processes that are gone when another is set', () => {
    const targets = new BalloonTargets();
    const pids: Record<string, number | undefined> = { a: 1, b: 2 };
    targets.set('a', 1, 10, (id) => pids[id]);
    pids.a = undefined;
    targets.set('b', 2, 20, (id) => pids[id]);
    pids.a = 1; // even if a process of `a` had the same pid again, its entry is gone
    expect(targets.get('a', 1)).toBeUndefined();
    expect(targets.get('b', 2)).toBe(20);
  });
});
