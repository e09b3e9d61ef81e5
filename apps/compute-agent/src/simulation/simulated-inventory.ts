/**
 * Host ids and inventories of simulated hosts (NUBO_AGENT_SIMULATED_HOSTS): deterministic from a
 * seed and the host's number, so that a scale test or benchmark can be run again on the same
 * cloud. Pure.
 */
import { HostCapacity } from '@nubo/contracts';

const VCPUS = [8, 16, 32, 48];
const RAM_GIB = [32, 48, 64, 96];
const DISK_GB = [500, 1000, 2000];

/** `<base>-s0001` .. : four digits at least, so that ids sort in number order up to 9999. */
export function simulatedHostId(base: string, index: number): string {
  return `${base}-s${String(index).padStart(4, '0')}`;
}

/** mulberry32: a small, well-mixed 32-bit generator. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function simulatedInventory(seed: number, index: number): HostCapacity {
  const next = random(Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(index, 0xc2b2ae35));
  const pick = <T>(values: T[]) => values[Math.floor(next() * values.length)];
  return { vcpus: pick(VCPUS), ramMb: pick(RAM_GIB) * 1024, diskGb: pick(DISK_GB) };
}
