import { TaskState, ValidationError, VmState } from '@nubo/contracts';
import { RESIZED_FROM, RESIZE_FROM, parseResize, resizeProblem, upsizeDelta } from './server-resize';
import { novaStatus } from './server-view';

describe('parseResize', () => {
  it.each([
    [{ flavorRef: '2' }, '2'],
    [{ flavorRef: 2 }, '2'],
    [{ flavorRef: 'f-1', 'OS-DCF:diskConfig': 'MANUAL' }, 'f-1'],
  ])('takes %j', (resize, flavorRef) => expect(parseResize({ resize })).toEqual({ flavorRef }));

  it.each([
    [null, 'resize'],
    [{}, 'flavorRef'],
    [{ flavorRef: '' }, 'flavorRef'],
    [{ flavorRef: 1.5 }, 'flavorRef'],
    [{ flavorRef: '2', host: 'h1' }, 'resize'],
  ])('refuses %j naming %s', (resize, field) => {
    try {
      parseResize({ resize });
      throw new Error('accepted');
    } catch (error) {
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).details.field).toBe(field);
    }
  });
});

describe('resizeProblem', () => {
  const tiny = { id: '1', vcpus: 1, ramMb: 512, diskGb: 1, ephemeralGb: 0 };
  const DOWN = 'Server disk was unable to be resized because: Unable to resize disk down.';
  it.each([
    [tiny, { id: '2', vcpus: 2, ramMb: 2048, diskGb: 20, ephemeralGb: 0 }, undefined],
    [tiny, { id: '3', vcpus: 2, ramMb: 1024, diskGb: 1, ephemeralGb: 5 }, undefined],
    [{ ...tiny, diskGb: 20 }, { id: '4', vcpus: 1, ramMb: 256, diskGb: 20, ephemeralGb: 0 }, undefined],
    [tiny, { ...tiny }, 'When resizing, instances must change flavor!'],
    [{ ...tiny, diskGb: 20 }, { id: '2', vcpus: 4, ramMb: 4096, diskGb: 10, ephemeralGb: 0 }, DOWN],
    [{ ...tiny, ephemeralGb: 5 }, { id: '2', vcpus: 4, ramMb: 4096, diskGb: 10, ephemeralGb: 1 }, DOWN],
    [tiny, { id: '0', vcpus: 1, ramMb: 512, diskGb: 0, ephemeralGb: 0 }, 'Server disk was unable to be resized because: Resize to zero disk flavor is not allowed.'],
    [{ ...tiny, diskGb: 0 }, { id: '9', vcpus: 1, ramMb: 1024, diskGb: 0, ephemeralGb: 0 }, undefined],
    [{ ...tiny, storage: 'shared' as const }, { id: '2', vcpus: 2, ramMb: 2048, diskGb: 20, ephemeralGb: 0, storage: 'shared' as const }, undefined],
    [
      tiny,
      { id: '2', vcpus: 2, ramMb: 2048, diskGb: 20, ephemeralGb: 0, storage: 'shared' as const },
      "Resize between disk storage kinds is not supported: the server's disks are on local storage, flavor 2 asks for shared (nubo:storage).",
    ],
  ])('%j -> %j', (current, next, expected) => expect(resizeProblem(current, next)).toBe(expected));
});

describe('upsizeDelta', () => {
  it.each([
    [{ vcpus: 1, ramMb: 512 }, { vcpus: 2, ramMb: 1024 }, { cores: 1, ramMb: 512 }],
    [{ vcpus: 4, ramMb: 512 }, { vcpus: 2, ramMb: 1024 }, { cores: 0, ramMb: 512 }],
    [{ vcpus: 4, ramMb: 4096 }, { vcpus: 1, ramMb: 512 }, { cores: 0, ramMb: 0 }],
  ])('%j -> %j counts %j', (from, to, delta) => expect(upsizeDelta(from, to)).toEqual(delta));
});

describe('the states resize, confirmResize and revertResize run from', () => {
  it("are Nova's check_instance_state", () => {
    expect(RESIZE_FROM.sort()).toEqual([VmState.Active, VmState.Stopped].sort());
    expect(RESIZED_FROM).toEqual([VmState.Resized]);
  });
});

describe('novaStatus of rebuild and resize', () => {
  it.each([
    [VmState.Active, TaskState.Rebuilding, 'REBUILD'],
    [VmState.Active, TaskState.RebuildSpawning, 'REBUILD'],
    [VmState.Stopped, TaskState.Rebuilding, 'REBUILD'],
    [VmState.Error, TaskState.RebuildSpawning, 'REBUILD'],
    [VmState.Active, TaskState.ResizePrep, 'RESIZE'],
    [VmState.Active, TaskState.ResizeMigrating, 'RESIZE'],
    [VmState.Stopped, TaskState.ResizeMigrated, 'RESIZE'],
    [VmState.Stopped, TaskState.ResizeFinish, 'RESIZE'],
    [VmState.Resized, null, 'VERIFY_RESIZE'],
    [VmState.Resized, TaskState.ResizeConfirming, 'VERIFY_RESIZE'],
    [VmState.Resized, TaskState.ResizeReverting, 'REVERT_RESIZE'],
    [VmState.Error, TaskState.ResizePrep, 'ERROR'],
  ])('%s/%s is %s', (vm, task, status) => expect(novaStatus(vm, task)).toBe(status));
});
