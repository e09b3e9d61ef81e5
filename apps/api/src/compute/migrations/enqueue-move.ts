/**
 * Queues the job of a move (live or cold migration) whose record and task state were just written;
 * when the queue refuses it, both go back (the server idle, the record `error`) and the caller gets
 * a retryable 503-style error, so nothing is left half-started.
 */
import { Logger } from '@nestjs/common';
import { TaskState, TimeoutError, jobId } from '@nubo/contracts';
import { JobQueue } from '@nubo/jobs';
import { DataSource } from 'typeorm';

export interface QueuedMove {
  job: 'server.live-migrate' | 'server.cold-migrate';
  /** For messages: "live migration", "migration". */
  what: string;
  serverId: string;
  migrationId: string;
  requestId: string;
  /** The task state the request set, and the record's first status: what is undone. */
  taskState: TaskState;
  recordStatus: string;
}

export async function enqueueMove(db: DataSource, jobs: JobQueue, logger: Logger, m: QueuedMove): Promise<void> {
  try {
    await jobs.enqueue(m.job, { serverId: m.serverId, requestId: m.requestId, migrationId: m.migrationId }, { jobId: jobId(m.job, m.serverId, m.requestId) });
  } catch (error) {
    await db.transaction(async (tx) => {
      await tx.query(`UPDATE compute.servers SET task_state = NULL WHERE id = $1 AND task_state = $2`, [m.serverId, m.taskState]);
      await tx.query(`UPDATE compute.migrations SET status = 'error', updated_at = now() WHERE id = $1 AND status = $2`, [m.migrationId, m.recordStatus]);
    });
    logger.error(`could not enqueue the ${m.what} of ${m.serverId}: ${(error as Error).message}`);
    throw new TimeoutError(`The job queue is unavailable; the ${m.what} was not started. Try again.`);
  }
}
