/**
 * A guest's CPU topology from a flavor's extra specs, as Nova reads them: hw:cpu_sockets,
 * hw:cpu_cores and hw:cpu_threads. The parts given are kept; the rest is derived so that
 * sockets x cores x threads = vcpus, preferring sockets, then cores, then threads (Nova's order:
 * with nothing given, every vCPU is a socket). Given parts that cannot multiply to vcpus are an
 * error naming the extra spec. Pure, shared by the API (400 at flavor time) and the scheduler.
 */
import { CpuTopology } from './compute.contract';
import { ValidationError } from './errors';

export const CPU_TOPOLOGY_SPECS = {
  sockets: 'hw:cpu_sockets',
  cores: 'hw:cpu_cores',
  threads: 'hw:cpu_threads',
} as const;

type Part = keyof typeof CPU_TOPOLOGY_SPECS;
const PARTS: Part[] = ['sockets', 'cores', 'threads'];

/** The topology the extra specs ask for, or undefined when they name none of its parts. */
export function cpuTopologyOf(vcpus: number, extraSpecs: Record<string, unknown> | null | undefined): CpuTopology | undefined {
  const given: Partial<Record<Part, number>> = {};
  for (const part of PARTS) {
    const raw = extraSpecs?.[CPU_TOPOLOGY_SPECS[part]];
    if (raw === undefined || raw === null || raw === '') continue;
    const value = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\s*\d+\s*$/.test(raw) ? Number(raw) : NaN;
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new ValidationError(`${CPU_TOPOLOGY_SPECS[part]} must be a positive integer, not ${JSON.stringify(raw)}`, CPU_TOPOLOGY_SPECS[part]);
    }
    given[part] = value;
  }
  const named = PARTS.filter((part) => given[part] !== undefined);
  if (named.length === 0) return undefined;
  const product = named.reduce((p, part) => p * given[part]!, 1);
  const free = PARTS.filter((part) => given[part] === undefined);
  if (vcpus % product !== 0 || (free.length === 0 && product !== vcpus)) {
    const field = CPU_TOPOLOGY_SPECS[named[named.length - 1]];
    const asked = named.map((part) => `${CPU_TOPOLOGY_SPECS[part]}=${given[part]}`).join(', ');
    throw new ValidationError(`${asked} cannot make a topology of ${vcpus} vCPUs`, field);
  }
  // Everything left goes to the first part not given; the others are 1.
  const topology = { sockets: 1, cores: 1, threads: 1, ...given };
  if (free.length > 0) topology[free[0]] = vcpus / product;
  return topology;
}
