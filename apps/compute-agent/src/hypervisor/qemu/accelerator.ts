/** Picks QEMU's accelerator: KVM when the agent can open /dev/kvm read-write, else TCG. */
import { closeSync, constants, openSync } from 'node:fs';
import { Accelerator } from '../hypervisor-driver';

export type AcceleratorMode = 'auto' | Accelerator;

export function canOpenKvm(device = '/dev/kvm'): boolean {
  try {
    closeSync(openSync(device, constants.O_RDWR));
    return true;
  } catch {
    return false;
  }
}

export function resolveAccelerator(mode: AcceleratorMode, kvmAvailable: () => boolean = canOpenKvm): Accelerator {
  if (mode !== 'auto') return mode;
  return kvmAvailable() ? 'kvm' : 'tcg';
}
