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

/** KVM was asked for (image property hypervisor_type=kvm) on a host that cannot give it. */
export class KvmUnavailableError extends Error {
  constructor() {
    super('the image asks for KVM (hypervisor_type=kvm) but this host cannot open /dev/kvm');
  }
}

/**
 * The accelerator of one server: what its spec asks for (from its image), else the host's default.
 * TCG runs anywhere; KVM only where /dev/kvm opens.
 */
export function chooseAccelerator(requested: Accelerator | undefined, hostDefault: Accelerator, kvmAvailable: () => boolean = canOpenKvm): Accelerator {
  if (requested === undefined) return hostDefault;
  if (requested === 'kvm' && !kvmAvailable()) throw new KvmUnavailableError();
  return requested;
}
