/**
 * The failover controller's recovery (a FailoverTask, run by the active controller only): each
 * tick it reads the hosts and their leases, holds back in a storm (recovery-policy.ts), powers off
 * down hosts whose lease ended (the fence driver), marks them `fenced` with the driver's word as
 * the reason (through the leader session: a deposed leader writes nothing), and evacuates the HA
 * servers of fenced hosts, highest `nubo:ha_priority` first (EvacuationService: one open
 * evacuation per server, so a new leader resumes without doing any twice). A server with no room
 * anywhere is asked for again every NUBO_FAILOVER_RETRY_MS: its evacuation record says why. So is
 * one with an open evacuation (the ask re-queues its job under the same id, a no-op while the job
 * exists): a leader killed between writing the record and queueing the job left it with none.
 */
import { Logger } from '@nestjs/common';
import { HostState, haOf } from '@nubo/contracts';
import { HOST_STATE_REASON_CTE } from '@nubo/database';
import { FailoverTask, FailoverTickContext } from '../failover/failover-controller';
import { EvacuationService } from '../failover/evacuation.service';
import { FenceDriver } from './fence-driver';
import { HostLiveness, RecoveryPolicy, planRecovery, trustsLeaseExpiry } from './recovery-policy';

interface HostRow {
  id: string;
  state: string;
  silent_for_ms: number | null;
  lease_expired_for_ms: number | null;
}

interface ServerRow {
  id: string;
  host_id: string;
  flavor_specs: Record<string, unknown> | null;
  metadata: Record<string, unknown> | null;
  open_evacuation: boolean;
}

export interface HostRecoveryOptions extends RecoveryPolicy {
  /** A host whose fence failed is tried again after this long; a server without room likewise. */
  retryMs: number;
  /**
   * Count a lease expired past the self-fence margin as a fence when the driver cannot confirm
   * one. Off by default: an agent frozen (SIGSTOP) or hung kills nothing while its QEMUs run on.
   */
  trustLeaseExpiry: boolean;
}

export class HostRecoveryTask implements FailoverTask {
  readonly name = 'host-recovery';
  private readonly logger = new Logger(HostRecoveryTask.name);
  private enabled?: boolean;
  private readonly nextTry = new Map<string, number>();

  constructor(
    private readonly driver: FenceDriver,
    private readonly evacuations: Pick<EvacuationService, 'evacuate'>,
    private readonly options: HostRecoveryOptions,
  ) {}

  async run({ session }: FailoverTickContext): Promise<void> {
    const [settings] = await session.query<{ enabled: boolean; alert: string | null }>(`SELECT enabled, alert FROM compute.failover_settings WHERE id = 1`);
    if (settings && !settings.enabled) {
      if (this.enabled !== false) this.logger.warn('automatic failover is off (PUT /nubo/v1/failover): silent hosts are neither fenced nor recovered');
      this.enabled = false;
      return;
    }
    this.enabled = true;
    const rows = await session.query<HostRow>(
      `SELECT h.id, h.state, extract(epoch FROM clock_timestamp() - h.last_heartbeat_at)::float8 * 1000 AS silent_for_ms,
              CASE WHEN l.host_id IS NULL THEN NULL ELSE extract(epoch FROM clock_timestamp() - l.expires_at)::float8 * 1000 END AS lease_expired_for_ms
         FROM compute.hosts h LEFT JOIN compute.host_leases l ON l.host_id = h.id`,
    );
    const hosts: HostLiveness[] = rows.map((r) => ({
      id: r.id,
      state: r.state,
      silentForMs: Number(r.silent_for_ms ?? 0),
      leaseExpiredForMs: r.lease_expired_for_ms === null ? null : Number(r.lease_expired_for_ms),
    }));
    const plan = planRecovery(hosts, this.options);
    if ((plan.storm ?? null) !== (settings?.alert ?? null)) {
      if (plan.storm) this.logger.error(`ALERT failover held back: ${plan.storm}`);
      else this.logger.warn('failover storm over: automatic fencing resumes');
      // The alert stays readable (GET /nubo/v1/failover) until the storm is over.
      await session.query(`UPDATE compute.failover_settings SET alert = $1, alert_at = CASE WHEN $1::text IS NULL THEN NULL ELSE now() END WHERE id = 1`, [plan.storm ?? null]);
    }
    const fenced = hosts.filter((h) => h.state === HostState.Fenced).map((h) => h.id);
    for (const id of plan.fence) {
      if (!this.due(`host:${id}`)) continue;
      // Evacuated in this same tick: every second counts once the host is known dead.
      if (await this.fence(session, hosts.find((h) => h.id === id)!)) fenced.push(id);
    }
    if (fenced.length) await this.evacuate(session, fenced);
  }

  /** True once the host is fenced (now or by an earlier leader). */
  private async fence(session: FailoverTickContext['session'], host: HostLiveness): Promise<boolean> {
    const result = await this.driver.fence(host.id);
    const trusted = !result.confirmed && this.options.trustLeaseExpiry && trustsLeaseExpiry(host, this.options);
    if (!result.confirmed && !trusted) {
      this.logger.warn(`host ${host.id} is down but not fenced yet (${this.driver.name}): ${result.detail}`);
      return false;
    }
    const reason = result.confirmed
      ? `fenced by ${this.driver.name}: ${result.detail}`
      : `lease expired ${Math.round(host.leaseExpiredForMs! / 1000)} s ago, past the self-fence margin (${this.driver.name}: ${result.detail})`;
    const [marked] = await session.query<{ id: string }>(
      `WITH ${HOST_STATE_REASON_CTE('$2')}
       UPDATE compute.hosts h SET state = 'fenced' FROM host_state_reason WHERE h.id = $1 AND h.state = 'down' RETURNING h.id`,
      [host.id, reason],
    );
    await session.query(`UPDATE compute.host_leases SET fenced_at = now(), fenced_epoch = epoch WHERE host_id = $1 AND fenced_at IS NULL`, [host.id]);
    if (marked) this.logger.warn(`host ${host.id} fenced: ${reason}`);
    return true;
  }

  private async evacuate(session: FailoverTickContext['session'], fencedHosts: string[]): Promise<void> {
    const servers = await session.query<ServerRow>(
      `SELECT s.id, s.host_id, coalesce(s.flavor->'extraSpecs', f.extra_specs) AS flavor_specs, s.metadata,
              EXISTS (SELECT 1 FROM compute.migrations m WHERE m.server_id = s.id AND m.migration_type = 'evacuation'
                        AND m.status IN ('accepted', 'pre-migrating')) AS open_evacuation
         FROM compute.servers s LEFT JOIN compute.flavors f ON f.id = s.flavor_id
        WHERE s.deleted_at IS NULL AND s.host_id = ANY($1)`,
      [fencedHosts],
    );
    const ha = servers
      .map((s) => ({ ...s, ...haOf(s.flavor_specs, s.metadata) }))
      .filter((s) => s.ha)
      .sort((a, b) => b.priority - a.priority || a.id.localeCompare(b.id));
    for (const s of ha) {
      // A failed one (no room) is asked for again after retryMs; an open one has its job re-queued
      // (this leader's first tick resumes what a dead leader recorded but never queued).
      if (!this.due(`server:${s.id}`)) continue;
      try {
        const ticket = await this.evacuations.evacuate(s.id, { reason: `host ${s.host_id} fenced: automatic recovery (priority ${s.priority})` });
        if (ticket.created) this.logger.log(`recovering HA server ${s.id} (priority ${s.priority}) from fenced host ${s.host_id}`);
        else if (s.open_evacuation) this.logger.debug(`HA server ${s.id}: evacuation ${ticket.migrationId} open, its job queued (again)`);
      } catch (error) {
        this.logger.warn(`HA server ${s.id} on fenced host ${s.host_id} not recovered yet: ${(error as Error).message}`);
      }
    }
  }

  /** True at most once per retryMs per key. */
  private due(key: string): boolean {
    const now = Date.now();
    if ((this.nextTry.get(key) ?? 0) > now) return false;
    this.nextTry.set(key, now + this.options.retryMs);
    return true;
  }
}
