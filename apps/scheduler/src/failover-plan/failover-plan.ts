/**
 * The failover plan, pure: for each host X, X is taken as dead and its HA servers are placed one
 * by one, highest priority first, on the other hosts with the scheduler's own filters and
 * weighers; each placement takes its room on the chosen host before the next one is decided, so
 * the plan never counts the same free RAM twice. A host with HA servers that cannot all be
 * placed fails the N+1 check (capacityOk false).
 */
import { FailoverPlanHost, FailoverPlanServer, HostState } from '@nubo/contracts';
import { HostCandidate, PlacementRequest } from '../placement/placement-types';
import { ScheduleResult, noValidHostReason } from '../placement/scheduling-pipeline';

export interface HaServer {
  hostId: string;
  name: string;
  priority: number;
  /** `request.group` is ignored: the plan derives it from this, as members move. */
  request: PlacementRequest;
  /** The server's group: its policy and where every member (this one included) is now. */
  group?: { id: string; policy: NonNullable<PlacementRequest['group']>['policy']; members: ReadonlyArray<{ serverId: string; hostId: string | null }> };
}

export type Decide = (hosts: ReadonlyArray<HostCandidate>, request: PlacementRequest) => ScheduleResult;

/** Highest priority first, then by id: the order recovery runs in. */
export function recoveryOrder<T extends { priority: number; request: { serverId: string } }>(servers: ReadonlyArray<T>): T[] {
  return [...servers].sort((a, b) => b.priority - a.priority || a.request.serverId.localeCompare(b.request.serverId));
}

export function failoverPlan(hosts: ReadonlyArray<HostCandidate>, servers: ReadonlyArray<HaServer>, decide: Decide): FailoverPlanHost[] {
  const byHost = new Map<string, HaServer[]>();
  for (const s of servers) byHost.set(s.hostId, [...(byHost.get(s.hostId) ?? []), s]);
  return [...hosts]
    .sort((a, b) => a.id.localeCompare(b.id))
    .map((dead) => {
      // The dead host keeps its usage (it may come back) but offers no room.
      let world = hosts.map((h) => (h.id === dead.id ? { ...h, state: HostState.Down } : { ...h }));
      const planned: FailoverPlanServer[] = [];
      // Where each member of a group would be once the dead host's members moved (so far).
      const moved = new Map<string, string | null>();
      for (const s of recoveryOrder(byHost.get(dead.id) ?? [])) {
        const group = s.group && {
          policy: s.group.policy,
          memberHosts: s.group.members
            .filter((m) => m.serverId !== s.request.serverId)
            .map((m) => (moved.has(m.serverId) ? moved.get(m.serverId)! : m.hostId === dead.id ? null : m.hostId))
            .filter((h): h is string => h !== null),
        };
        const request = { ...s.request, group, excludedHosts: [...s.request.excludedHosts, dead.id] };
        const { ranked, explanation } = decide(world, request);
        const chosen = ranked[0];
        if (!chosen) {
          const reason = explanation.noValidHost ?? noValidHostReason(null, [], 0);
          moved.set(s.request.serverId, null);
          planned.push({ id: s.request.serverId, name: s.name, priority: s.priority, destination: null, reason });
          continue;
        }
        world = world.map((h) => (h.id === chosen.id ? takeRoom(h, request) : h));
        moved.set(s.request.serverId, chosen.id);
        planned.push({ id: s.request.serverId, name: s.name, priority: s.priority, destination: chosen.id });
      }
      return { host: dead.id, state: dead.state, servers: planned, capacityOk: planned.every((p) => p.destination !== null) };
    });
}

function takeRoom(host: HostCandidate, request: PlacementRequest): HostCandidate {
  return {
    ...host,
    usedVcpus: host.usedVcpus + request.vcpus,
    usedRamMb: host.usedRamMb + request.ramMb,
    usedDiskGb: host.usedDiskGb + request.diskGb,
    instances: host.instances + 1,
  };
}
