/**
 * Nova's resize, confirmResize and revertResize at microversion 2.1: bodies, the vm_states each
 * runs from, the flavor checks Nova answers with 400, and the quota deltas it checks.
 */
import { VmState } from '@nubo/contracts';
import { onlyKeys, requireObject, requireStringOrInt } from '../common/validation';

export const RESIZE_ACTION = 'resize';
export const CONFIRM_RESIZE_ACTION = 'confirmResize';
export const REVERT_RESIZE_ACTION = 'revertResize';

/** Nova's compute API resize: check_instance_state(vm_state=[ACTIVE, STOPPED]). */
export const RESIZE_FROM: VmState[] = [VmState.Active, VmState.Stopped];
/** confirm_resize and revert_resize: check_instance_state(vm_state=[RESIZED]). */
export const RESIZED_FROM: VmState[] = [VmState.Resized];

/** {"resize": {"flavorRef": "2"}} (an integer id is taken too); OS-DCF:diskConfig is accepted and ignored. */
export function parseResize(body: Record<string, unknown>): { flavorRef: string } {
  const action = requireObject(body[RESIZE_ACTION], RESIZE_ACTION);
  onlyKeys(action, RESIZE_ACTION, ['flavorRef', 'OS-DCF:diskConfig']);
  return { flavorRef: requireStringOrInt(action, 'flavorRef') };
}

export interface FlavorRef {
  id: string;
  vcpus: number;
  ramMb: number;
  diskGb: number;
  ephemeralGb: number;
  /** Where the disks live (`nubo:storage`); absent: local. */
  storage?: 'local' | 'shared';
}

/**
 * Why the server cannot take the new flavor, in Nova's words (400), or undefined. Nova refuses a
 * zero-disk flavor and the same flavor in its API; a smaller disk it refuses in the libvirt driver
 * (asynchronously); Nubo refuses it here, before anything starts.
 */
export function resizeProblem(current: FlavorRef, next: FlavorRef): string | undefined {
  if (next.diskGb === 0 && current.diskGb !== 0) return 'Server disk was unable to be resized because: Resize to zero disk flavor is not allowed.';
  if (current.id === next.id) return 'When resizing, instances must change flavor!';
  // The disks stay where they are: a resize never moves them between the host and shared storage.
  if ((current.storage ?? 'local') !== (next.storage ?? 'local')) {
    return `Resize between disk storage kinds is not supported: the server's disks are on ${current.storage ?? 'local'} storage, flavor ${next.id} asks for ${next.storage ?? 'local'} (nubo:storage).`;
  }
  // The libvirt driver's check covers the ephemeral disk too.
  if (next.diskGb < current.diskGb || next.ephemeralGb < current.ephemeralGb) {
    return 'Server disk was unable to be resized because: Unable to resize disk down.';
  }
  return undefined;
}

/** Nova's upsize_quota_delta: only what grows counts (cores, ram). */
export function upsizeDelta(from: { vcpus: number; ramMb: number }, to: { vcpus: number; ramMb: number }): { cores: number; ramMb: number } {
  return { cores: Math.max(0, to.vcpus - from.vcpus), ramMb: Math.max(0, to.ramMb - from.ramMb) };
}
