/**
 * Failover reserve (Ganeti's N+1) per aggregate whose metadata has `nubo:failover_reserve=true`:
 * the aggregate keeps enough free capacity for the servers of any one of its hosts to restart on
 * the others.
 *
 * The rule, per resource (RAM in MB and vCPUs, each with its allocation ratio):
 *   for every member X:  used(X) <= sum of free(Y) over the other members Y that are up and enabled
 * where free(Y) = max(0, floor((total - reserved) x ratio) - used). A placement on member H is
 * refused when the rule would not hold after adding the request to H. Down, fenced and disabled
 * members count as hosts that may fail (their used) but not as room (their free). Disk is not
 * reserved: a server restarted elsewhere from local storage is rebuilt from its image.
 *
 * Since free(X) is part of the pool, the rule reads `need(X) <= pool` with need(X) = used(X) +
 * free(X) (= the capacity of an up host that is not overcommitted) for up members and used(X)
 * otherwise. "The largest host" in the reason is the member with the largest need (then the most
 * used), the one the rule fails for first. Members are those in FilterContext.allHosts: the
 * loader must hand every host of such an aggregate, down ones included.
 */
import { HostState } from '@nubo/contracts';
import { freeOf } from '../capacity';
import { FilterContext, HostCandidate, HostFilter, PlacementRequest } from '../placement-types';

export const FAILOVER_RESERVE_KEY = 'nubo:failover_reserve';

type Resource = 'ramMb' | 'vcpus';
const RESOURCES: ReadonlyArray<{ key: Resource; unit: string; used: (h: HostCandidate) => number }> = [
  { key: 'ramMb', unit: 'MB RAM', used: (h) => h.usedRamMb },
  { key: 'vcpus', unit: 'vCPUs', used: (h) => h.usedVcpus },
];

/** One aggregate's pool and the two largest needs (the largest other than H is one of them). */
interface Reserve {
  name: string;
  pool: Record<Resource, number>;
  top: Record<Resource, Array<{ host: string; need: number; used: number }>>;
}

const absorbs = (h: HostCandidate) => h.state === HostState.Up && !h.disabled;

function reservesOf(allHosts: ReadonlyArray<HostCandidate>): Map<string, Reserve> {
  const reserves = new Map<string, Reserve>();
  for (const host of allHosts) {
    for (const aggregate of host.aggregates) {
      if (aggregate.metadata[FAILOVER_RESERVE_KEY] !== 'true') continue;
      let r = reserves.get(aggregate.id);
      if (!r) {
        r = { name: aggregate.name, pool: { ramMb: 0, vcpus: 0 }, top: { ramMb: [], vcpus: [] } };
        reserves.set(aggregate.id, r);
      }
      const free = freeOf(host);
      for (const { key, used } of RESOURCES) {
        const room = absorbs(host) ? Math.max(0, free[key]) : 0;
        r.pool[key] += room;
        const top = r.top[key];
        top.push({ host: host.id, need: used(host) + room, used: used(host) });
        top.sort((a, b) => b.need - a.need || b.used - a.used);
        if (top.length > 2) top.pop();
      }
    }
  }
  return reserves;
}

/** Whether any host of a list is in an aggregate with the policy: memberships never change in place, so once per list. */
const hasReserve = new WeakMap<ReadonlyArray<HostCandidate>, boolean>();

export class FailoverReserveFilter implements HostFilter {
  readonly name = 'FailoverReserveFilter';

  appliesTo(_request: PlacementRequest, context: FilterContext): boolean {
    let any = hasReserve.get(context.allHosts);
    if (any === undefined) {
      any = context.allHosts.some((h) => h.aggregates.some((a) => a.metadata[FAILOVER_RESERVE_KEY] === 'true'));
      hasReserve.set(context.allHosts, any);
    }
    return any;
  }
  /** Computed once per scheduling decision (one context per decision). */
  private readonly cache = new WeakMap<FilterContext, Map<string, Reserve>>();

  /** The decision's aggregates with the policy, by id, with their pools: computed once per decision. */
  private active(context: FilterContext): Map<string, Reserve> {
    let reserves = this.cache.get(context);
    if (!reserves) this.cache.set(context, (reserves = reservesOf(context.allHosts)));
    return reserves;
  }

  reject(host: HostCandidate, request: PlacementRequest, context: FilterContext): string | null {
    const reserves = this.active(context);
    if (reserves.size === 0 || host.aggregates.length === 0) return null;
    const free = freeOf(host);
    for (const aggregate of host.aggregates) {
      const r = reserves.get(aggregate.id);
      if (!r) continue;
      for (const { key, unit, used } of RESOURCES) {
        const want = request[key];
        const roomBefore = absorbs(host) ? Math.max(0, free[key]) : 0;
        const roomAfter = absorbs(host) ? Math.max(0, free[key] - want) : 0;
        const pool = r.pool[key] - roomBefore + roomAfter;
        const here = { need: used(host) + want + roomAfter, used: used(host) + want };
        const other = r.top[key].find((t) => t.host !== host.id) ?? { need: 0, used: 0 };
        const largest = here.need > other.need || (here.need === other.need && here.used >= other.used) ? here : other;
        if (largest.need > pool) {
          const othersFree = pool - (largest.need - largest.used);
          return `FailoverReserve: aggregate ${r.name} keeps room to restart the servers of its largest host on the others: after this placement that host would hold ${largest.used} ${unit}, the others would have ${othersFree} ${unit} free`;
        }
      }
    }
    return null;
  }
}
