/**
 * What a host can still take: floor((total - reserved) * allocation ratio) - used, per resource,
 * the same rule as the claim's conditional UPDATE (host-usage.ts fitsSql), so a host the filters
 * keep is one the claim accepts on the same numbers.
 */
import { HostCandidate } from './placement-types';

export interface Free {
  vcpus: number;
  ramMb: number;
  diskGb: number;
}

export function capacityOf(h: HostCandidate): Free {
  return {
    vcpus: Math.floor((h.vcpus - (h.reservedVcpus ?? 0)) * h.cpuAllocationRatio),
    ramMb: Math.floor((h.ramMb - (h.reservedRamMb ?? 0)) * h.ramAllocationRatio),
    diskGb: Math.floor((h.diskGb - (h.reservedDiskGb ?? 0)) * h.diskAllocationRatio),
  };
}

export function freeOf(h: HostCandidate): Free {
  const c = capacityOf(h);
  return { vcpus: c.vcpus - h.usedVcpus, ramMb: c.ramMb - h.usedRamMb, diskGb: c.diskGb - h.usedDiskGb };
}

/** freeOf's parts one at a time, without allocating: filters and weighers call these per host per decision. */
export const freeRamMb = (h: HostCandidate): number => Math.floor((h.ramMb - (h.reservedRamMb ?? 0)) * h.ramAllocationRatio) - h.usedRamMb;
export const freeVcpus = (h: HostCandidate): number => Math.floor((h.vcpus - (h.reservedVcpus ?? 0)) * h.cpuAllocationRatio) - h.usedVcpus;
export const freeDiskGb = (h: HostCandidate): number => Math.floor((h.diskGb - (h.reservedDiskGb ?? 0)) * h.diskAllocationRatio) - h.usedDiskGb;
