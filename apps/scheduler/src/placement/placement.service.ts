/**
 * Places servers on hosts without races, however many schedulers run.
 *
 * A decision runs the filters and weighers (scheduling-pipeline.ts) over the host candidates,
 * cached for a short TTL (host-candidates.ts). The claim is one statement (server-claims.ts): the
 * host's conditional UPDATE of its usage counters, the server's move, the allocation and the
 * decision's record, all or nothing; claims decided while one runs go together in the next
 * (claim-batcher.ts: one round trip and one commit for many placements). The host re-checks
 * capacity on its own row, so a decision made on stale numbers can only lose the claim; a lost
 * claim re-reads that host and decides again.
 *
 * A server in a group is placed inside a transaction that locks the group's row first and reads
 * where the other members are after the lock, so two members are never placed at once on hosts
 * that each alone would have allowed (the race Nova documents). Servers in no group (most) need
 * no lock: their claim is the one statement, which commits by itself.
 */
import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { NoValidHostError } from '@nubo/contracts';
import { Pool, PoolClient } from 'pg';
import { DataSource } from 'typeorm';
import { SCHEDULER_CONFIG } from '../config';
import { HostCandidates } from './host-candidates';
import { ClaimBatcher } from './claim-batcher';
import { Db, freeAllocations } from './host-usage';
import { ClaimRow, claimServers, usageOf } from './server-claims';
import { recordPlacementDecision } from './placement-decisions';
import { HostCandidate, PlacementExplanation, PlacementRequest } from './placement-types';
import { FAILOVER_RESERVE_KEY } from './filters/failover-reserve.host-filter';
import { DEFAULT_SCHEDULING, SchedulingSettings, buildPipeline } from './scheduling-config';
import { Pipeline, ScheduleResult, hostsToScore, schedule } from './scheduling-pipeline';

/** What the caller knows about the server; zone, hints, extra specs and image properties are optional. */
export type PlacementInput = Pick<PlacementRequest, 'vcpus' | 'ramMb' | 'diskGb'> &
  Partial<Omit<PlacementRequest, 'serverId' | 'group' | 'vcpus' | 'ramMb' | 'diskGb'>>;

/** The scheduler's settings this service reads; absent ones take Nova's defaults. */
export type PlacementConfig = Partial<
  SchedulingSettings & {
    NUBO_SCHEDULER_HOST_CACHE_MS: number;
    NUBO_SCHEDULER_HOST_SUBSET_SIZE: number;
    NUBO_SCHEDULER_CLAIM_BATCH: number;
    NUBO_SCHEDULER_CLAIM_STATEMENTS: number;
    NUBO_SCHEDULER_HOSTS_TO_SCORE_PERCENT: number;
  }
>;

/** Claims lost to a host that changed under the decision before giving up for now. */
const MAX_CLAIM_ATTEMPTS = 20;
/** Hosts ranked per decision (a selection of the best, not a sort of all), as many as its record lists. */
const RANKED = 20;

type Outcome =
  | { kind: 'placed'; hostId: string }
  | { kind: 'gone' }
  | { kind: 'none'; reason: string }
  | { kind: 'lost'; hostId: string }
  | { kind: 'stale' };
type GroupRow = { id: string; policy: NonNullable<PlacementRequest['group']>['policy'] };

@Injectable()
export class PlacementService {
  private readonly logger = new Logger(PlacementService.name);
  readonly hosts: HostCandidates;
  private readonly pipeline: Pipeline;
  private readonly hostSubsetSize: number;
  private readonly hostsToScorePercent: number;
  /** Claims a host refused because it changed after the decision (for the benchmark's log). */
  lostClaims = 0;
  /** node-postgres' pool under the DataSource: the hot statements run prepared, without the ORM. */
  private readonly pool: Pool;
  readonly batcher: ClaimBatcher;

  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Optional() @Inject(SCHEDULER_CONFIG) config: PlacementConfig = {},
  ) {
    this.hostSubsetSize = config.NUBO_SCHEDULER_HOST_SUBSET_SIZE ?? 1;
    this.hostsToScorePercent = config.NUBO_SCHEDULER_HOSTS_TO_SCORE_PERCENT ?? 0;
    this.pipeline = buildPipeline({ ...DEFAULT_SCHEDULING, ...config });
    this.hosts = new HostCandidates(db, { ttlMs: config.NUBO_SCHEDULER_HOST_CACHE_MS ?? 250 });
    this.pool = (db.driver as unknown as { master: Pool }).master;
    this.batcher = new ClaimBatcher(this.pool, {
      maxBatch: config.NUBO_SCHEDULER_CLAIM_BATCH ?? 32,
      maxInFlight: config.NUBO_SCHEDULER_CLAIM_STATEMENTS ?? 1,
    });
  }

  /**
   * Places a server that is in task state `scheduling`: usage counters, allocation, host, task
   * state `spawning` and the decision's record, at once. Returns the host, or null when the
   * server left `scheduling` meanwhile; NoValidHostError names the filter that emptied the list.
   * `attempt` numbers the decision for the record (reschedules count up).
   */
  async claimForServer(serverId: string, input: PlacementInput, options: { attempt?: number } = {}): Promise<string | null> {
    const request: PlacementRequest = {
      serverId,
      projectId: input.projectId ?? '',
      vcpus: input.vcpus,
      ramMb: input.ramMb,
      diskGb: input.diskGb,
      extraSpecs: input.extraSpecs ?? {},
      imageProperties: input.imageProperties ?? {},
      availabilityZone: input.availabilityZone ?? null,
      forcedHost: input.forcedHost ?? null,
      excludedHosts: input.excludedHosts ?? [],
    };
    const attempt = options.attempt ?? 1;
    // A host that refuses twice, the second time on fresh numbers (a rounding edge, a host going down): not again.
    const refusedOnce = new Set<string>();
    const refusedTwice = new Set<string>();
    let fresh = false;
    for (let claim = 1; claim <= MAX_CLAIM_ATTEMPTS; claim++) {
      const excludedHosts = refusedTwice.size ? [...request.excludedHosts, ...refusedTwice] : request.excludedHosts;
      const outcome = await this.tryClaim({ ...request, excludedHosts }, attempt, fresh);
      if (outcome.kind === 'placed') return outcome.hostId;
      if (outcome.kind === 'gone') return null;
      if (outcome.kind === 'stale') {
        // Aggregates, memberships or traits changed after the load the decision used: decide again on a full one.
        fresh = true;
        continue;
      }
      if (outcome.kind === 'none') {
        // The cache may predate a release elsewhere: "no host" only stands on fresh numbers.
        if (fresh) throw new NoValidHostError(outcome.reason);
        fresh = true;
        continue;
      }
      this.lostClaims++;
      (refusedOnce.has(outcome.hostId) ? refusedTwice : refusedOnce).add(outcome.hostId);
      await this.hosts.refresh(outcome.hostId);
    }
    // Contention is not "no host": a plain error makes the job retry later instead of failing the server.
    throw new Error(`claim for ${serverId} lost ${MAX_CLAIM_ATTEMPTS} races in a row`);
  }

  /** One decision over `hosts` with this scheduler's filters and weighers; nothing is claimed (the failover plan). */
  dryRun(hosts: ReadonlyArray<HostCandidate>, request: PlacementRequest): ScheduleResult {
    return schedule(hosts, request, this.pipeline);
  }

  /**
   * Frees everything a consumer holds, and what its migration records hold (a server deleted in
   * VERIFY_RESIZE still has its old flavor held by the resize's migration). Idempotent.
   */
  async release(tx: Db, consumerId: string): Promise<void> {
    const freed = await freeAllocations(tx, `consumer_id = $1 OR consumer_id IN (SELECT id FROM compute.migrations WHERE server_id = $1)`, [
      consumerId,
    ]);
    // Before the caller's commit: if it rolls back, the cache shows room that is not there, and a claim there loses once.
    for (const host of freed) this.hosts.patch(host.id, host);
  }

  /** One decision and its claim; a server found to be in a group goes the locked way. */
  private async tryClaim(request: PlacementRequest, attempt: number, fresh: boolean): Promise<Outcome> {
    // Before taking a connection: a load needs one of its own (a claim holding one while waiting could empty the pool).
    const hosts = await this.hosts.get({ fresh });
    const decision = this.decide(hosts, request);
    if (!decision.chosen) return this.noHost(request, attempt, decision.explanation, fresh);
    const reserves = reserveAggregatesOf(decision.chosen);
    if (reserves.length) return this.tryLockedClaim(request, attempt, { reserves });
    const row = await this.claim(undefined, request, decision.chosen, attempt, decision.explanation, {
      ungroupedOnly: true,
      metadataVersion: this.hosts.metadataVersion(hosts),
    });
    if (row.schedulable === 0 && row.grouped) return this.tryLockedClaim(request, attempt, { hosts, fresh });
    return this.outcomeOf(row, request.serverId, decision.chosen.id);
  }

  /**
   * A claim in a transaction that first takes the locks its placement needs, then decides:
   *  - N+1 aggregates (`reserves`): the reserve is a rule over all the aggregate's hosts, which
   *    the per-host conditional UPDATE cannot check, so such placements are serialized per
   *    aggregate (transaction-level advisory locks, in id order) and decided on fresh numbers
   *    read after the locks: two of them can never both spend the same reserve;
   *  - the server's group row (lockGroup), so two members are never placed at once.
   * Without `hosts`, the decision runs on a fresh load taken after the locks.
   */
  private async tryLockedClaim(
    request: PlacementRequest,
    attempt: number,
    { reserves = [], hosts: given, fresh = true }: { reserves?: string[]; hosts?: HostCandidate[]; fresh?: boolean },
  ): Promise<Outcome> {
    const client = await this.pool.connect();
    let open = false;
    try {
      await client.query('BEGIN');
      open = true;
      for (const id of reserves) await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`nubo-failover-reserve:${id}`]);
      const group = await this.lockGroup(client, request.serverId);
      const hosts = given ?? (await this.hosts.get({ fresh: true }));
      const decision = this.decide(hosts, group ? { ...request, group } : request);
      if (!decision.chosen) {
        await client.query('COMMIT');
        open = false;
        return this.noHost(request, attempt, decision.explanation, given ? fresh : true);
      }
      const row = await this.claim(client, request, decision.chosen, attempt, decision.explanation, {
        ungroupedOnly: false,
        metadataVersion: this.hosts.metadataVersion(hosts),
      });
      await client.query(row.generation === null ? 'ROLLBACK' : 'COMMIT');
      open = false;
      return this.outcomeOf(row, request.serverId, decision.chosen.id);
    } finally {
      if (open) await client.query('ROLLBACK').catch(() => undefined);
      client.release();
    }
  }

  private decide(hosts: ReadonlyArray<HostCandidate>, request: PlacementRequest): { chosen?: HostCandidate; explanation: PlacementExplanation } {
    const feasibleTarget = hostsToScore(hosts.length, this.hostsToScorePercent);
    const { ranked, explanation } = schedule(hosts, request, this.pipeline, {
      hostSubsetSize: this.hostSubsetSize,
      limit: RANKED,
      feasibleTarget,
      // A random start when only part of the cloud is examined: schedulers racing do not all look at the same hosts.
      start: feasibleTarget < hosts.length ? Math.floor(Math.random() * hosts.length) : 0,
    });
    return { chosen: ranked[0], explanation };
  }

  /**
   * The claim, counted in the cache from the decision until its result is known: through the
   * batcher, or on `client` inside the caller's transaction (a group's or a reserve's lock).
   */
  private async claim(
    client: PoolClient | undefined,
    request: PlacementRequest,
    host: HostCandidate,
    attempt: number,
    explanation: PlacementExplanation,
    { ungroupedOnly, metadataVersion }: { ungroupedOnly: boolean; metadataVersion: string },
  ): Promise<ClaimRow> {
    const forget = this.hosts.assume(host.id, request);
    try {
      const claim = { serverId: request.serverId, hostId: host.id, vcpus: request.vcpus, ramMb: request.ramMb, diskGb: request.diskGb };
      const full = { ...claim, attempt, explanation, ungroupedOnly, metadataVersion };
      const row = client ? (await claimServers(client, [full]))[0] : await this.batcher.claim(full);
      forget();
      const usage = usageOf(row);
      if (usage) this.hosts.patch(host.id, usage);
      return row;
    } finally {
      forget();
    }
  }

  private outcomeOf(row: ClaimRow, serverId: string, hostId: string): Outcome {
    if (row.schedulable === 0) return { kind: 'gone' };
    if (row.stale) return { kind: 'stale' };
    if (row.generation === null) return { kind: 'lost', hostId };
    this.logger.debug(`server ${serverId} placed on host ${hostId}`);
    return { kind: 'placed', hostId };
  }

  /** No host: recorded when it stands (fresh numbers), on its own (the caller's transaction, if any, is over). */
  private async noHost(request: PlacementRequest, attempt: number, explanation: PlacementExplanation, fresh: boolean): Promise<Outcome> {
    if (fresh) await recordPlacementDecision(this.db, request.serverId, attempt, explanation);
    return { kind: 'none', reason: explanation.noValidHost ?? 'There are not enough hosts available.' };
  }

  /**
   * Locks the server's group row (if it has one) and reads where its other members are. Two
   * statements on purpose: in READ COMMITTED, a statement that waited for the lock still reads
   * with the snapshot it started with; the second one sees the placement that released it.
   */
  private async lockGroup(client: PoolClient, serverId: string): Promise<PlacementRequest['group']> {
    const { rows } = await client.query<GroupRow>({
      name: 'nubo-lock-group',
      text: `SELECT g.id, g.policy FROM compute.server_group_members m JOIN compute.server_groups g ON g.id = m.group_id
              WHERE m.server_id = $1 FOR UPDATE OF g`,
      values: [serverId],
    });
    if (rows.length === 0) return undefined;
    const members = await client.query<{ host_id: string }>({
      name: 'nubo-group-hosts',
      text: `SELECT s.host_id FROM compute.server_group_members m JOIN compute.servers s ON s.id = m.server_id
              WHERE m.group_id = $1 AND s.id <> $2 AND s.host_id IS NOT NULL AND s.deleted_at IS NULL`,
      values: [rows[0].id, serverId],
    });
    return { policy: rows[0].policy, memberHosts: members.rows.map((r) => r.host_id) };
  }
}

/** Ids of the host's aggregates that keep an N+1 failover reserve, sorted (the lock order). */
function reserveAggregatesOf(host: HostCandidate): string[] {
  return host.aggregates.filter((a) => a.metadata[FAILOVER_RESERVE_KEY] === 'true').map((a) => a.id).sort();
}
