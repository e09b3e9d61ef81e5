/**
 * Nova's ImagePropertiesFilter for the properties Nubo's hosts can differ on:
 * - `architecture`: every host is x86_64 (qemu-system-x86_64), which also runs i686 guests; names
 *   are canonicalized as Nova does (amd64 -> x86_64; i386, i486, i586, x86_32 -> i686).
 * - `hypervisor_type` (or Nova's newer `img_hv_type`): `qemu` runs on any host (TCG everywhere);
 *   `kvm` needs KVM (trait COMPUTE_ACCEL_KVM, or an agent that reports accelerator kvm);
 *   anything else (xen, vmware, ...) runs nowhere.
 * - `vm_mode` (or `hw_vm_mode`): only `hvm`.
 */
import { HostCandidate, HostFilter, PlacementRequest } from '../placement-types';

export const HOST_ARCHITECTURES: ReadonlySet<string> = new Set(['x86_64', 'i686']);

export function canonicalArchitecture(name: string): string {
  const lower = name.toLowerCase();
  if (['i386', 'i486', 'i586', 'x86_32'].includes(lower)) return 'i686';
  if (lower === 'amd64') return 'x86_64';
  return lower;
}

export function hasKvm(host: HostCandidate): boolean {
  return host.traits.has('COMPUTE_ACCEL_KVM') || host.accelerator === 'kvm';
}

export class ImagePropertiesFilter implements HostFilter {
  readonly name = 'ImagePropertiesFilter';

  appliesTo(request: PlacementRequest): boolean {
    const p = request.imageProperties;
    return ['architecture', 'hypervisor_type', 'img_hv_type', 'vm_mode', 'hw_vm_mode'].some((k) => p[k] !== undefined);
  }

  reject(host: HostCandidate, request: PlacementRequest): string | null {
    const p = request.imageProperties;
    if (p.architecture !== undefined && !HOST_ARCHITECTURES.has(canonicalArchitecture(p.architecture))) {
      return `ImageProperties: architecture ${p.architecture} is not supported (x86_64, i686)`;
    }
    const hvType = (p.img_hv_type ?? p.hypervisor_type)?.toLowerCase();
    if (hvType !== undefined && hvType !== 'qemu') {
      if (hvType !== 'kvm') return `ImageProperties: hypervisor_type ${hvType} is not supported (qemu, kvm)`;
      if (!hasKvm(host)) return `ImageProperties: hypervisor_type kvm needs KVM, host runs ${host.accelerator}`;
    }
    const vmMode = (p.hw_vm_mode ?? p.vm_mode)?.toLowerCase();
    if (vmMode !== undefined && vmMode !== 'hvm') return `ImageProperties: vm_mode ${vmMode} is not supported (hvm)`;
    return null;
  }
}
