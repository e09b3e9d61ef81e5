/**
 * Host leases in PostgreSQL (compute.host_leases, see host-lease.contract.ts). One renewal per
 * heartbeat per host, each a short transaction serialised per host by an advisory lock (the row
 * may not exist yet). Times are PostgreSQL's `now()` only: the agent gets its lease as a
 * duration and measures it on its own monotonic clock.
 *
 *   renewal, epoch E   granted while E is current, not fenced and not expired; else `stale`
 *   join               a fenced lease stays fenced: `refused` (a `fenced` host becomes
 *                      `disabled`, waiting for an admin) with the host's servers; else epoch + 1
 *   join after a self-fence of the current epoch: the lease and the host are fenced first (once:
 *                      an epoch an admin released is not fenced again by a repeated report)
 *
 * `markFenced(host, epoch)` is the fencing token's other use: whoever confirmed a fence (the
 * agent, a fence driver) fences that epoch only, never a newer one the host joined with since.
 */
import { HostState, LeaseRenewReply, LeaseRenewRequest, ValidationError } from '@nubo/contracts';
import { setHostStateReason } from '@nubo/database';
import { DataSource, EntityManager } from 'typeorm';

export interface HostLeaseSettings {
  /** How long a granted lease runs (NUBO_HOST_LEASE_MS). */
  leaseMs: number;
}

interface LeaseRow {
  epoch: string;
  fenced: boolean;
  fenced_epoch: string | null;
  live: boolean;
  expired_ms: string | null;
}

const HOST_ID = /^[A-Za-z0-9_-]{1,64}$/;

export class HostLeaseStore {
  constructor(
    private readonly db: DataSource,
    private readonly settings: HostLeaseSettings,
  ) {}

  async renew(request: LeaseRenewRequest): Promise<LeaseRenewReply> {
    const req = validateRenewRequest(request);
    return this.db.transaction(async (tx) => {
      const lease = await this.lockedLease(tx, req.hostId);
      return req.epoch !== undefined ? this.renewal(tx, req, lease) : this.join(tx, req, lease);
    });
  }

  /**
   * Fences `epoch` of the host (its VMs are known dead: the agent said so, or a fence driver
   * made sure): the lease can no longer be renewed and the host becomes `fenced` with `reason`.
   * False when the host holds another epoch by now, or that one was fenced already.
   */
  markFenced(hostId: string, epoch: number, reason: string): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      await this.lockedLease(tx, hostId);
      return this.fence(tx, hostId, epoch, reason);
    });
  }

  /** The host's current epoch, for the commands sent to its agent; undefined before its first join. */
  async currentEpoch(hostId: string): Promise<number | undefined> {
    const rows: Array<{ epoch: string }> = await this.db.query(`SELECT epoch::text AS epoch FROM compute.host_leases WHERE host_id = $1`, [hostId]);
    return rows[0] ? Number(rows[0].epoch) : undefined;
  }

  private async renewal(tx: EntityManager, req: LeaseRenewRequest, lease: LeaseRow | undefined): Promise<LeaseRenewReply> {
    const current = lease ? Number(lease.epoch) : undefined;
    const refusal = !lease
      ? 'the host holds no lease: join first'
      : current !== req.epoch
        ? `epoch ${req.epoch} is not the host's current epoch (${current})`
        : lease.fenced
          ? `epoch ${current} was fenced`
          : !lease.live
            ? `the lease of epoch ${current} expired ${lease.expired_ms} ms ago`
            : undefined;
    if (refusal) return { status: 'stale', reason: refusal };
    await tx.query(
      `UPDATE compute.host_leases SET renewed_at = now(), expires_at = now() + $2 * interval '1 millisecond', agent_started_at = $3
        WHERE host_id = $1`,
      [req.hostId, this.settings.leaseMs, req.agentStartedAt],
    );
    return { status: 'granted', epoch: current!, leaseMs: this.settings.leaseMs };
  }

  private async join(tx: EntityManager, req: LeaseRenewRequest, lease: LeaseRow | undefined): Promise<LeaseRenewReply> {
    const current = lease ? Number(lease.epoch) : 0;
    let fenced = lease?.fenced ?? false;
    // A report of the current epoch's fence, once: an epoch an admin already released stays released.
    const reported = req.fencedEpoch !== undefined && req.fencedEpoch === current && lease?.fenced_epoch !== String(current);
    if (reported && lease && !fenced) {
      fenced = await this.fence(tx, req.hostId, current, `the agent fenced itself: ${req.fencedReason ?? 'no reason given'}`);
    }
    const assignedServerIds = await this.assignedServers(tx, req.hostId);
    if (fenced) {
      const reason = `the agent (started ${req.agentStartedAt}) came back after the fence of epoch ${current}; it starts nothing until an admin enables the host`;
      await setHostStateReason(tx, reason);
      await tx.query(`UPDATE compute.hosts SET state = $2, disabled_reason = $3 WHERE id = $1 AND state = $4`, [
        req.hostId,
        HostState.Disabled,
        `fenced (epoch ${current}): enable the service to use the host again`,
        HostState.Fenced,
      ]);
      return { status: 'refused', reason: `the host was fenced (epoch ${current}) and is not enabled again`, assignedServerIds };
    }
    const epoch = current + 1;
    await tx.query(
      `INSERT INTO compute.host_leases (host_id, epoch, agent_started_at, renewed_at, expires_at)
       VALUES ($1, $2, $3, now(), now() + $4 * interval '1 millisecond')
       ON CONFLICT (host_id) DO UPDATE SET epoch = $2, agent_started_at = $3, renewed_at = now(),
         expires_at = now() + $4 * interval '1 millisecond', fenced_at = NULL`,
      [req.hostId, epoch, req.agentStartedAt, this.settings.leaseMs],
    );
    return { status: 'granted', epoch, leaseMs: this.settings.leaseMs, assignedServerIds };
  }

  private async fence(tx: EntityManager, hostId: string, epoch: number, reason: string): Promise<boolean> {
    const [, count]: [unknown, number] = await tx.query(
      `UPDATE compute.host_leases SET fenced_at = now(), fenced_epoch = epoch, expires_at = least(expires_at, now())
        WHERE host_id = $1 AND epoch = $2 AND fenced_at IS NULL`,
      [hostId, epoch],
    );
    if (count !== 1) return false;
    await setHostStateReason(tx, reason);
    await tx.query(`UPDATE compute.hosts SET state = $2 WHERE id = $1 AND state <> $2`, [hostId, HostState.Fenced]);
    return true;
  }

  private async lockedLease(tx: EntityManager, hostId: string): Promise<LeaseRow | undefined> {
    await tx.query(`SELECT pg_advisory_xact_lock(hashtext('nubo-host-lease'), hashtext($1))`, [hostId]);
    const rows: LeaseRow[] = await tx.query(
      `SELECT epoch::text AS epoch, fenced_at IS NOT NULL AS fenced, fenced_epoch::text AS fenced_epoch, expires_at > now() AS live,
              round(extract(epoch FROM now() - expires_at) * 1000)::text AS expired_ms
         FROM compute.host_leases WHERE host_id = $1`,
      [hostId],
    );
    return rows[0];
  }

  private async assignedServers(tx: EntityManager, hostId: string): Promise<string[]> {
    const rows: Array<{ id: string }> = await tx.query(`SELECT id::text AS id FROM compute.servers WHERE host_id = $1 AND deleted_at IS NULL ORDER BY id`, [hostId]);
    return rows.map((r) => r.id);
  }
}

const isEpoch = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v > 0;

/** The request as the store uses it; a malformed one is the agent's bug (ValidationError naming the field). */
export function validateRenewRequest(request: LeaseRenewRequest): LeaseRenewRequest {
  const r = (request ?? {}) as Partial<LeaseRenewRequest>;
  if (typeof r.hostId !== 'string' || !HOST_ID.test(r.hostId)) throw new ValidationError('hostId must be a host id', 'hostId');
  if (typeof r.agentStartedAt !== 'string' || Number.isNaN(Date.parse(r.agentStartedAt))) {
    throw new ValidationError('agentStartedAt must be an ISO 8601 time', 'agentStartedAt');
  }
  if (r.epoch !== undefined && !isEpoch(r.epoch)) throw new ValidationError('epoch must be a positive integer', 'epoch');
  if (r.fencedEpoch !== undefined && !isEpoch(r.fencedEpoch)) throw new ValidationError('fencedEpoch must be a positive integer', 'fencedEpoch');
  if (r.fencedReason !== undefined && typeof r.fencedReason !== 'string') throw new ValidationError('fencedReason must be a string', 'fencedReason');
  return {
    hostId: r.hostId,
    agentStartedAt: r.agentStartedAt,
    ...(r.epoch !== undefined ? { epoch: r.epoch } : {}),
    ...(r.fencedEpoch !== undefined ? { fencedEpoch: r.fencedEpoch, fencedReason: r.fencedReason?.slice(0, 300) } : {}),
  };
}
