/**
 * The vocabulary of scheduling: what a host looks like to the filters and weighers (a candidate,
 * loaded fresh or from a short cache: the claim's conditional UPDATE re-checks capacity, so a
 * stale candidate can lose a race but never overbook), what a request asks for, and the shape of
 * one filter and one weigher (one of each per file under filters/ and weighers/).
 */
import { HostState } from '@nubo/contracts';

export interface HostCandidate {
  id: string;
  /** Bumped by every claim and release on the host (placement's resource-provider generation). */
  generation: string;
  state: HostState;
  /** Disabled by an admin (os-services disable): no new servers. */
  disabled: boolean;
  /** 'kvm' | 'tcg' as the agent reports it. */
  accelerator: string;
  /** The host's availability zone (an aggregate's, or the default zone "nova"). */
  zone: string;
  /** Standard traits reported by the agent and CUSTOM_* traits set by admins. */
  traits: ReadonlySet<string>;
  /** Metadata of every aggregate the host is in (ids as strings). */
  aggregates: ReadonlyArray<{ id: string; name: string; metadata: Readonly<Record<string, string>> }>;
  /** Inventory: totals, and what allocations use now. */
  vcpus: number;
  ramMb: number;
  diskGb: number;
  cpuAllocationRatio: number;
  ramAllocationRatio: number;
  diskAllocationRatio: number;
  /** Placement's reserved amounts (capacity = floor((total - reserved) * ratio)); absent: 0. */
  reservedVcpus?: number;
  reservedRamMb?: number;
  reservedDiskGb?: number;
  usedVcpus: number;
  usedRamMb: number;
  usedDiskGb: number;
  /** Consumers (servers and migrations) holding an allocation on the host. */
  instances: number;
  /** Spawns that failed on this host recently (decaying; reset by a success). */
  recentFailures: number;
}

export interface PlacementRequest {
  serverId: string;
  projectId: string;
  vcpus: number;
  ramMb: number;
  diskGb: number;
  /** The flavor's extra specs (trait:*, aggregate_instance_extra_specs:*, hw:*, ...). */
  extraSpecs: Readonly<Record<string, string>>;
  /** The image's properties (architecture, hypervisor_type, ...); empty without an image. */
  imageProperties: Readonly<Record<string, string>>;
  /** The zone asked for at create; null: any. */
  availabilityZone: string | null;
  /** An admin's "zone:host"; null: the scheduler chooses. */
  forcedHost: string | null;
  /** The server's group and the hosts its other members run on (or are being placed on). */
  group?: { policy: 'affinity' | 'anti-affinity' | 'soft-affinity' | 'soft-anti-affinity'; memberHosts: ReadonlyArray<string> };
  /** Hosts this server already failed to spawn on (reschedule): never again for this request. */
  excludedHosts: ReadonlyArray<string>;
}

/** A filter keeps a host (null) or rejects it with a reason naming what failed. Pure. */
export interface HostFilter {
  readonly name: string;
  reject(host: HostCandidate, request: PlacementRequest, context: FilterContext): string | null;
  /** Optional: false when the filter keeps every host for this request, which then skips it per host. */
  appliesTo?(request: PlacementRequest, context: FilterContext): boolean;
}

/** What some filters need beyond one host: every candidate (e.g. the N+1 failover reserve). */
export interface FilterContext {
  allHosts: ReadonlyArray<HostCandidate>;
}

/** A weigher scores a host; scores are normalized to 0..1 over the candidates, times the multiplier. */
export interface HostWeigher {
  readonly name: string;
  readonly multiplier: number;
  weigh(host: HostCandidate, request: PlacementRequest): number;
  /** Optional: false when the weigher scores every host alike for this request (it then adds 0). */
  appliesTo?(request: PlacementRequest): boolean;
}

/** Why a decision came out as it did (stored with the instance action, shown to admins). */
export interface PlacementExplanation {
  /** Per filter, in order: how many hosts went in and which were removed, with the reason. */
  filters: Array<{ name: string; in: number; removed: Record<string, string>; removedOmitted?: number }>;
  /** The remaining hosts, best first, with the total and each weigher's weighted score. */
  weighed: Array<{ host: string; total: number; weights: Record<string, number> }>;
  chosen: string | null;
  /** Hosts left out of `weighed` (only the best are listed). */
  weighedOmitted?: number;
  /** Hosts not examined: enough others had passed every filter (ScheduleOptions.feasibleTarget). */
  notExamined?: number;
  /** When no host is left: the reason for NoValidHostError, naming the filter that emptied the list. */
  noValidHost?: string;
}
