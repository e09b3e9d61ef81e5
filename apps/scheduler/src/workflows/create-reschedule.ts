/**
 * Reschedule of a server create (Nova's build retries): when the chosen host's agent ANSWERS a
 * spawn with an error (the spawn contract: nothing of the server is left there), the claim is
 * released, the host is recorded as failed for this server (never tried again for it) and in the
 * host's recent build failures (the build-failure weigher), and the server goes back to
 * `scheduling` for the next host; after NUBO_SCHEDULER_MAX_ATTEMPTS spawns, or when no other
 * host is left, ERROR with Nova's MaxRetriesExceeded fault. A spawn the agent did not answer is
 * never rescheduled (a QEMU may run there): see AgentRetry.
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import { TaskState, VmState } from '@nubo/contracts';
import { DataSource, EntityManager } from 'typeorm';
import { SCHEDULER_CONFIG } from '../config';
import { recordBuildFailure } from '../placement/build-failures';
import { PlacementFailure, placementHistory, recordSpawnFailure } from '../placement/placement-decisions';
import { PlacementService } from '../placement/placement.service';

export type RescheduleOutcome = 'rescheduled' | 'failed' | 'gone';

/** Nova's MaxRetriesExceeded messages; host names stay in the admin-only details. */
export function exceededMessage(serverId: string, maxAttempts: number, lastReason: string): string {
  return `Exceeded maximum number of retries. Exceeded max scheduling attempts ${maxAttempts} for instance ${serverId}. Last exception: ${lastReason}`;
}

export function exhaustedMessage(serverId: string): string {
  return `Exceeded maximum number of retries. Exhausted all hosts available for retrying build failures for instance ${serverId}.`;
}

/** "attempt 1 on h1: reason; attempt 2 on h2: reason" (admins see it in the fault's details). */
export function attemptsDetails(failures: ReadonlyArray<PlacementFailure>, extra?: string): string {
  const lines = failures.map((f) => `attempt ${f.attempt} on ${f.hostId}: ${f.reason}`);
  return [...lines, ...(extra ? [extra] : [])].join('; ');
}

@Injectable()
export class CreateReschedule {
  private readonly logger = new Logger(CreateReschedule.name);

  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(PlacementService) private readonly placement: PlacementService,
    @Inject(SCHEDULER_CONFIG) private readonly config: { NUBO_SCHEDULER_MAX_ATTEMPTS: number },
  ) {}

  /**
   * After the agent of `hostId` answered the spawn with `reason` and the instance is gone from
   * it. 'gone': the server left spawning on that host meanwhile (deleted): nothing changed.
   */
  async afterSpawnFailure(serverId: string, hostId: string, reason: string): Promise<RescheduleOutcome> {
    const outcome = await this.db.transaction(async (tx) => {
      const [row]: Array<{ task_state: string | null; host_id: string | null }> = await tx.query(
        `SELECT task_state, host_id FROM compute.servers WHERE id = $1 AND deleted_at IS NULL FOR UPDATE`,
        [serverId],
      );
      if (!row || row.task_state !== TaskState.Spawning || row.host_id !== hostId) return { kind: 'gone' as const };
      await recordSpawnFailure(tx, serverId, hostId, reason);
      await this.placement.release(tx, serverId);
      await recordBuildFailure(tx, hostId);
      const history = await placementHistory(tx, serverId);
      const max = this.config.NUBO_SCHEDULER_MAX_ATTEMPTS;
      if (history.failures.length >= max) {
        await this.setError(tx, serverId, exceededMessage(serverId, max, reason), attemptsDetails(history.failures));
        return { kind: 'failed' as const, attempts: history.failures.length };
      }
      await tx.query(
        `UPDATE compute.servers SET host_id = NULL, task_state = $2, updated_at = now() WHERE id = $1`,
        [serverId, TaskState.Scheduling],
      );
      return { kind: 'rescheduled' as const, attempts: history.failures.length };
    });
    if (outcome.kind === 'rescheduled') {
      this.logger.warn(`server ${serverId}: spawn failed on ${hostId} (${reason}); rescheduling (attempt ${outcome.attempts + 1})`);
    } else if (outcome.kind === 'failed') {
      this.logger.warn(`server ${serverId} ERROR: spawn failed ${outcome.attempts} times, last on ${hostId}: ${reason}`);
    }
    return outcome.kind;
  }

  /** A reschedule found no host: ERROR, "exhausted all hosts", with every attempt in the details. */
  async exhausted(serverId: string, noValidHost: string): Promise<void> {
    await this.db.transaction(async (tx) => {
      const history = await placementHistory(tx, serverId);
      await this.setError(tx, serverId, exhaustedMessage(serverId), attemptsDetails(history.failures, noValidHost));
    });
    this.logger.warn(`server ${serverId} ERROR: no host left to retry its build (${noValidHost})`);
  }

  private async setError(tx: EntityManager, serverId: string, message: string, details: string): Promise<void> {
    await tx.query(
      `UPDATE compute.servers SET vm_state = $2, task_state = NULL, host_id = NULL, updated_at = now(), fault = $3
        WHERE id = $1 AND deleted_at IS NULL AND task_state IS DISTINCT FROM 'deleting'`,
      [serverId, VmState.Error, { code: 500, message, created: new Date().toISOString(), details }],
    );
  }
}
