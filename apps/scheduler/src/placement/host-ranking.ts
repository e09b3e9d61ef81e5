/**
 * Which hosts can take a request, best first. Pure: the claim transaction feeds it fresh rows.
 * Issue #6 replaces this with one filter and one weigher a file; the walking skeleton needs
 * capacity filters and "most free RAM first".
 */
export interface HostUsage {
  id: string;
  generation: string;
  vcpus: number;
  ramMb: number;
  diskGb: number;
  cpuAllocationRatio: number;
  ramAllocationRatio: number;
  diskAllocationRatio: number;
  usedVcpus: number;
  usedRamMb: number;
  usedDiskGb: number;
}

export interface ResourceRequest {
  vcpus: number;
  ramMb: number;
  diskGb: number;
}

/** The server group the server belongs to, and the hosts its other members run on. */
export interface GroupPlacement {
  policy: 'affinity' | 'anti-affinity' | 'soft-affinity' | 'soft-anti-affinity';
  memberHosts: string[];
}

export interface RankedHost extends HostUsage {
  freeRamMb: number;
}

export function freeOf(h: Omit<HostUsage, 'id'>) {
  return {
    vcpus: Math.floor(h.vcpus * h.cpuAllocationRatio) - h.usedVcpus,
    ramMb: Math.floor(h.ramMb * h.ramAllocationRatio) - h.usedRamMb,
    diskGb: Math.floor(h.diskGb * h.diskAllocationRatio) - h.usedDiskGb,
  };
}

export function rankHosts(
  hosts: HostUsage[],
  request: ResourceRequest,
  group?: GroupPlacement,
): { ranked: RankedHost[]; rejected: Record<string, string> } {
  const rejected: Record<string, string> = {};
  const ranked: RankedHost[] = [];
  const members = new Set(group?.memberHosts ?? []);
  for (const host of hosts) {
    const free = freeOf(host);
    if (group?.policy === 'anti-affinity' && members.has(host.id)) rejected[host.id] = 'ServerGroupAntiAffinity: a member runs here';
    else if (group?.policy === 'affinity' && members.size > 0 && !members.has(host.id)) {
      rejected[host.id] = 'ServerGroupAffinity: the members run elsewhere';
    } else if (free.ramMb < request.ramMb) rejected[host.id] = `RAM: ${free.ramMb} MB free, ${request.ramMb} MB wanted`;
    else if (free.vcpus < request.vcpus) rejected[host.id] = `VCPU: ${free.vcpus} free, ${request.vcpus} wanted`;
    else if (free.diskGb < request.diskGb) rejected[host.id] = `DISK: ${free.diskGb} GB free, ${request.diskGb} GB wanted`;
    else ranked.push({ ...host, freeRamMb: free.ramMb });
  }
  // Soft policies weigh instead of filtering: members' hosts first (affinity) or last (anti).
  const soft = group?.policy === 'soft-affinity' ? -1 : group?.policy === 'soft-anti-affinity' ? 1 : 0;
  const weight = (h: RankedHost) => (members.has(h.id) ? soft : 0);
  ranked.sort((a, b) => weight(a) - weight(b) || b.freeRamMb - a.freeRamMb || a.id.localeCompare(b.id));
  return { ranked, rejected };
}
