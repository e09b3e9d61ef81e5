/**
 * Every host as the filters and weighers see it (HostCandidate), kept for a short time per
 * scheduler process. A full load is three plain queries (hosts, aggregate memberships, traits,
 * joined here: a fraction of what per-host subqueries cost PostgreSQL). A reload reads only what
 * claims and liveness change (usage counters, generation, state, recent failures) and goes full
 * when the set of hosts or the placement metadata version (aggregates, memberships, traits and
 * inventories: bumped by triggers, migration 1732550012000) moved. The version a list was loaded with goes with every
 * claim decided on it, and the claim is refused if the metadata moved since, so no placement
 * stands on stale zones, traits or aggregate policies. Usage numbers may be a TTL old: that is
 * only advice, since the claim re-checks capacity on the host row itself (a stale candidate can
 * lose a claim, never overbook). This process's claims count as soon as they are decided
 * (`assume`, as Kubernetes' scheduler assumes a pod), so its concurrent decisions spread instead
 * of queueing on one host row; a claim's result patches the counters; a refused claim re-reads
 * that host. Capacity reads as the claim computes it (capacity.ts, host-usage.ts fitsSql):
 * floor((total - reserved) * ratio) - used.
 */
import { HostState } from '@nubo/contracts';
import { RECENT_FAILURES_SQL } from './build-failures';
import { Amounts, Db, HostUsageRow } from './host-usage';
import { HostCandidate } from './placement-types';

/** Nova's default availability zone, for hosts in no zoned aggregate (the api shows the same). */
export const DEFAULT_ZONE = 'nova';

const SELECT_HOSTS = `SELECT h.id, h.generation, h.state, h.accelerator, h.vcpus, h.ram_mb, h.disk_gb,
       h.reserved_vcpus, h.reserved_ram_mb, h.reserved_disk_gb, h.cpu_allocation_ratio, h.ram_allocation_ratio, h.disk_allocation_ratio,
       h.used_vcpus, h.used_ram_mb, h.used_disk_gb, h.instances, ${RECENT_FAILURES_SQL} AS recent_failures,
       (SELECT version FROM compute.placement_metadata)::text AS metadata_version
  FROM compute.hosts h`;

/** Live aggregates per host, in id order (the order hostZoneSql takes the zone in). */
const SELECT_MEMBERSHIPS = `SELECT ah.host_id, a.id::text AS id, a.name, a.metadata, a.availability_zone
  FROM compute.aggregate_hosts ah JOIN compute.aggregates a ON a.id = ah.aggregate_id
 WHERE a.deleted_at IS NULL`;

const SELECT_TRAITS = `SELECT t.host_id, t.trait FROM compute.host_traits t`;

interface HostRow {
  id: string;
  generation: string;
  state: HostState;
  accelerator: string;
  vcpus: number;
  ram_mb: number;
  disk_gb: number;
  reserved_vcpus: number;
  reserved_ram_mb: number;
  reserved_disk_gb: number;
  cpu_allocation_ratio: number;
  ram_allocation_ratio: number;
  disk_allocation_ratio: number;
  used_vcpus: number;
  used_ram_mb: number;
  used_disk_gb: number;
  instances: number;
  recent_failures: number;
  /** Read before the memberships and traits: they are at least this new. */
  metadata_version?: string;
}

interface MembershipRow {
  host_id: string;
  id: string;
  name: string;
  metadata: Record<string, string>;
  availability_zone: string | null;
}

/** What claims, releases, heartbeats and build results change: the reload between full loads. */
const SELECT_COUNTERS = `SELECT h.id, h.generation, h.state, h.used_vcpus, h.used_ram_mb, h.used_disk_gb, h.instances,
       ${RECENT_FAILURES_SQL} AS recent_failures, (SELECT version FROM compute.placement_metadata)::text AS metadata_version
  FROM compute.hosts h`;

type CounterRow = Pick<HostRow, 'id' | 'generation' | 'state' | 'used_vcpus' | 'used_ram_mb' | 'used_disk_gb' | 'instances' | 'recent_failures' | 'metadata_version'>;

/** Reads host rows (all, or one) with the metadata version, without aggregates and traits. */
function readHostRows(db: Db, hostId?: string): Promise<HostRow[]> {
  return db.query(`${SELECT_HOSTS}${hostId === undefined ? '' : ' WHERE h.id = $1'} ORDER BY h.id`, hostId === undefined ? [] : [hostId]);
}

/** Reads hosts (all, or one) with their aggregates and traits, and the metadata version they are at least as new as. */
async function readHosts(db: Db, hostId?: string): Promise<{ hosts: HostCandidate[]; metadataVersion: string }> {
  const [where, params] = hostId === undefined ? ['', []] : [' WHERE host_id = $1', [hostId]];
  const hosts = await readHostRows(db, hostId);
  const memberships: MembershipRow[] = await db.query(`SELECT * FROM (${SELECT_MEMBERSHIPS}) m${where} ORDER BY host_id, id::int`, params);
  const traits: Array<{ host_id: string; trait: string }> = await db.query(`SELECT * FROM (${SELECT_TRAITS}) t${where} ORDER BY host_id, trait`, params);
  const aggregatesOf = groupBy(memberships, (m) => m.host_id);
  const traitsOf = groupBy(traits, (t) => t.host_id);
  return {
    hosts: hosts.map((r) => candidateOf(r, aggregatesOf.get(r.id) ?? [], (traitsOf.get(r.id) ?? []).map((t) => t.trait))),
    metadataVersion: versionOf(hosts),
  };
}

/** The metadata version a read of host rows saw ('0' when there are no hosts: nothing can be claimed then). */
const versionOf = (rows: Array<Pick<HostRow, 'metadata_version'>>) => String(rows[0]?.metadata_version ?? '0');

function groupBy<T>(rows: T[], key: (row: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const row of rows) {
    const k = key(row);
    const group = groups.get(k);
    if (group) group.push(row);
    else groups.set(k, [row]);
  }
  return groups;
}

export function candidateOf(r: HostRow, memberships: MembershipRow[], traits: string[]): HostCandidate {
  return {
    id: r.id,
    generation: String(r.generation),
    state: r.state,
    disabled: r.state === HostState.Disabled,
    accelerator: r.accelerator,
    // hostZoneSql's rule: the first live aggregate (by id) that has a zone, else the default zone.
    zone: memberships.find((m) => m.availability_zone !== null)?.availability_zone ?? DEFAULT_ZONE,
    traits: new Set(traits),
    aggregates: memberships.map((m) => ({ id: m.id, name: m.name, metadata: m.metadata })),
    vcpus: r.vcpus,
    ramMb: r.ram_mb,
    diskGb: r.disk_gb,
    cpuAllocationRatio: Number(r.cpu_allocation_ratio),
    ramAllocationRatio: Number(r.ram_allocation_ratio),
    diskAllocationRatio: Number(r.disk_allocation_ratio),
    reservedVcpus: r.reserved_vcpus,
    reservedRamMb: r.reserved_ram_mb,
    reservedDiskGb: r.reserved_disk_gb,
    usedVcpus: r.used_vcpus,
    usedRamMb: r.used_ram_mb,
    usedDiskGb: r.used_disk_gb,
    instances: r.instances,
    recentFailures: r.recent_failures,
  };
}

export interface HostCandidatesOptions {
  /** How long a load serves decisions; 0: every decision loads. */
  ttlMs: number;
  now?: () => number;
}

const newer = (a: string, b: string) => BigInt(a) > BigInt(b);

export class HostCandidates {
  private cache?: { at: number; hosts: HostCandidate[]; byId: Map<string, HostCandidate>; metadataVersion: string };
  /** The metadata version each list handed out was loaded with (a claim decided on it carries it). */
  private readonly versions = new WeakMap<ReadonlyArray<HostCandidate>, string>();
  private loading?: Promise<HostCandidate[]>;
  private fullLoading?: Promise<HostCandidate[]>;
  /** Counters this process wrote, kept until a load shows them (a load started before a claim would undo its patch). */
  private readonly own = new Map<string, HostUsageRow>();
  /** Claims decided and not yet finished, per host: counted on top of the counters. */
  private readonly pending = new Map<string, Pending>();
  private readonly now: () => number;
  /** Loads done, and how many of them were full (for tests and the benchmark's profile). */
  loads = 0;
  fullLoads = 0;

  constructor(
    private readonly db: Db,
    private readonly options: HostCandidatesOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  /**
   * The candidates, from the cache while it is younger than the TTL. Past it, one load starts
   * (concurrent callers share it) and, until it lands, callers still get the cache if it is
   * younger than 4 TTLs, so a decision never waits for a reload it does not need.
   */
  async get(options: { fresh?: boolean } = {}): Promise<HostCandidate[]> {
    const cache = this.cache;
    const age = cache ? this.now() - cache.at : Infinity;
    if (!options.fresh && cache && age < this.options.ttlMs) return cache.hosts;
    // Fresh means hosts, zones, traits and aggregates as they are now: never a rows-only reload
    // that happens to be in flight. Fresh callers share one full load.
    if (options.fresh) return (this.fullLoading ??= this.load(true).finally(() => (this.fullLoading = undefined)));
    const loading = (this.loading ??= this.load(false).finally(() => (this.loading = undefined)));
    if (cache && age < 4 * this.options.ttlMs) {
      loading.catch(() => undefined); // a failed load in the background is tried again by the next caller
      return cache.hosts;
    }
    return loading;
  }

  /** After this process's own claim or release on `hostId`: the counters the statement returned. */
  patch(hostId: string, usage: HostUsageRow): void {
    const known = this.own.get(hostId);
    if (known && !newer(String(usage.generation), known.generation)) return;
    this.own.set(hostId, { ...usage, generation: String(usage.generation) });
    const host = this.cache?.byId.get(hostId);
    if (host) this.show(host, this.own.get(hostId)!);
  }

  /**
   * Counts a claim this process decided on `hostId` until it ends; call the returned function
   * when it does (whatever the outcome), before patching with its result.
   */
  assume(hostId: string, amounts: Amounts): () => void {
    const add = (sign: 1 | -1) => {
      const p = this.pending.get(hostId) ?? { vcpus: 0, ramMb: 0, diskGb: 0, n: 0 };
      const next = { vcpus: p.vcpus + sign * amounts.vcpus, ramMb: p.ramMb + sign * amounts.ramMb, diskGb: p.diskGb + sign * amounts.diskGb, n: p.n + sign };
      if (next.n === 0) this.pending.delete(hostId);
      else this.pending.set(hostId, next);
      const host = this.cache?.byId.get(hostId);
      if (host) {
        host.usedVcpus += sign * amounts.vcpus;
        host.usedRamMb += sign * amounts.ramMb;
        host.usedDiskGb += sign * amounts.diskGb;
        host.instances += sign;
      }
    };
    add(1);
    let done = false;
    return () => {
      if (!done) add(-1);
      done = true;
    };
  }

  /** The metadata version `hosts` (a list get() returned) was loaded with: a claim decided on it carries it. */
  metadataVersion(hosts: ReadonlyArray<HostCandidate>): string {
    return this.versions.get(hosts) ?? '0';
  }

  /**
   * Re-reads one host's counters and state (after it refused a claim the cache said it would
   * take): one row, in place, as a counters reload does. A host gone from the table leaves the
   * list; anything else (a new host, changed metadata) waits for the next load.
   */
  async refresh(hostId: string): Promise<void> {
    const [row]: CounterRow[] = await this.db.query(`${SELECT_COUNTERS} WHERE h.id = $1`, [hostId]);
    const cache = this.cache;
    if (!cache) return;
    const host = cache.byId.get(hostId);
    if (!row) {
      // A new array: the versions map keys on it, and a caller holding the old one keeps it.
      if (host) this.replaceList(cache, cache.hosts.filter((h) => h.id !== hostId));
      cache.byId.delete(hostId);
      return;
    }
    if (host) this.showCounters(host, row);
  }

  private replaceList(cache: NonNullable<HostCandidates['cache']>, hosts: HostCandidate[]): void {
    cache.hosts = hosts;
    this.versions.set(hosts, cache.metadataVersion);
  }

  private async load(full: boolean): Promise<HostCandidate[]> {
    const at = this.now();
    const cache = this.cache;
    this.loads++;
    if (!full && cache && (await this.reloadCounters(cache))) {
      cache.at = at;
      return cache.hosts;
    }
    const { hosts, metadataVersion } = await readHosts(this.db);
    this.fullLoads++;
    const byId = new Map(hosts.map((h) => [h.id, h]));
    for (const id of this.own.keys()) if (!byId.has(id)) this.own.delete(id);
    for (const host of hosts) this.show(host, this.ownOrLoaded(host.id, host.generation));
    this.cache = { at, hosts, byId, metadataVersion };
    this.versions.set(hosts, metadataVersion);
    return hosts;
  }

  /**
   * Updates the cached candidates in place from the counters and states; false when the set of
   * hosts or the metadata version (which inventories are part of) changed: a full load is due.
   */
  private async reloadCounters(cache: NonNullable<HostCandidates['cache']>): Promise<boolean> {
    const rows: CounterRow[] = await this.db.query(SELECT_COUNTERS);
    if (versionOf(rows) !== cache.metadataVersion) return false;
    if (rows.length !== cache.byId.size || rows.some((r) => !cache.byId.has(r.id))) return false;
    for (const r of rows) this.showCounters(cache.byId.get(r.id)!, r);
    return true;
  }

  private showCounters(host: HostCandidate, r: CounterRow): void {
    host.state = r.state;
    host.disabled = r.state === HostState.Disabled;
    host.recentFailures = r.recent_failures;
    this.show(host, this.ownOrLoaded(r.id, String(r.generation), r));
  }

  /**
   * The counters to show for a host: the ones just loaded, unless this process wrote newer ones
   * (a load that started before its claim landed); an own entry the database caught up with goes.
   */
  private ownOrLoaded(id: string, generation: string, loaded?: CounterRow): HostUsageRow | undefined {
    const own = this.own.get(id);
    if (own && newer(own.generation, generation)) return own;
    if (own) this.own.delete(id);
    return loaded;
  }

  /** The counters `usage`, plus what this process's unfinished claims on the host will add. */
  private show(host: HostCandidate, usage: HostUsageRow | undefined): void {
    if (usage) setUsage(host, usage);
    this.addPending(host);
  }

  private addPending(host: HostCandidate): void {
    const p = this.pending.get(host.id);
    if (!p) return;
    host.usedVcpus += p.vcpus;
    host.usedRamMb += p.ramMb;
    host.usedDiskGb += p.diskGb;
    host.instances += p.n;
  }
}

interface Pending extends Amounts {
  n: number;
}

function setUsage(host: HostCandidate, usage: HostUsageRow): void {
  host.generation = String(usage.generation);
  host.usedVcpus = usage.used_vcpus;
  host.usedRamMb = usage.used_ram_mb;
  host.usedDiskGb = usage.used_disk_gb;
  host.instances = usage.instances;
}
