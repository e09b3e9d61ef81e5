/**
 * server.snapshot (Nova's createImage): the API set task_state `image_snapshot`, recorded the
 * action and made the image (queued); this job has the server's agent copy the disk into a
 * standalone qcow2 and PUT it to the image store's upload URL, signed for the server's project.
 * Then the task state is cleared; the server's vm_state and power state never change.
 *
 * A failure clears the task state and deletes the image (as Nova deletes a snapshot that failed;
 * the image store offers no way to mark it `killed`). A job owns the task state only while its
 * createImage is the server's newest instance action, so a replayed job never touches a later one.
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import {
  AgentOps,
  ImageOps,
  ImageStatus,
  NotFoundError,
  ServerSnapshotJob,
  SnapshotUpload,
  TaskState,
  TimeoutError,
  signCallerHeaders,
  subjects,
} from '@nubo/contracts';
import { ServerEntity, withActionEvent } from '@nubo/database';
import { JobOutcome } from '@nubo/jobs';
import { RpcClient } from '@nubo/messaging';
import { Job } from 'bullmq';
import { DataSource } from 'typeorm';
import { SCHEDULER_CONFIG, SchedulerConfig } from '../config';
import { AgentClient } from './agent-client';

/** The image store checks the signature when the upload starts, after the copy: allow for both. */
const UPLOAD_SIGNATURE_TTL_S = Math.ceil(AgentOps.snapshot.timeoutMs / 1000) + 300;

/** True while the createImage of `requestId` is the server's newest action and its task is running. */
const OWNS_TASK_STATE = `
  s.id = $1 AND s.deleted_at IS NULL AND s.task_state = '${TaskState.ImageSnapshot}'
  AND (SELECT a.request_id FROM compute.instance_actions a WHERE a.server_id = s.id ORDER BY a.id DESC LIMIT 1) = $2`;

@Injectable()
export class ServerSnapshotWorkflow {
  private readonly logger = new Logger(ServerSnapshotWorkflow.name);

  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(AgentClient) private readonly agents: AgentClient,
    @Inject(RpcClient) private readonly rpc: RpcClient,
    @Inject(SCHEDULER_CONFIG) private readonly config: SchedulerConfig,
  ) {}

  async run(data: ServerSnapshotJob, job: Job<ServerSnapshotJob>): Promise<JobOutcome> {
    const { serverId, requestId, imageId } = data;
    const server = await this.db.getRepository(ServerEntity).findOneBy({ id: serverId });
    if (!server) return 'skipped';
    const caller = { projectId: server.projectId, isAdmin: false };
    const owner = await this.ownsTaskState(serverId, requestId);
    if (!owner || !server.hostId) {
      // Deleted meanwhile, a stale replay, or no host: an image that never got data goes.
      if ((await this.imageStatus(imageId, caller, requestId)) === ImageStatus.Queued) await this.dropImage(imageId, caller, requestId);
      await this.finish(serverId, requestId);
      return owner ? 'failed' : 'skipped';
    }
    const hostId = server.hostId;
    if ((await this.imageStatus(imageId, caller, requestId)) === ImageStatus.Active) {
      // An earlier run uploaded it and stopped short of clearing the task state.
      await this.finish(serverId, requestId);
      return 'done';
    }
    const upload: SnapshotUpload = {
      url: new URL(`/v2/images/${encodeURIComponent(imageId)}/file`, this.config.NUBO_IMAGE_INTERNAL_URL).toString(),
      headers: signCallerHeaders(caller, imageId, this.config.NUBO_INTERNAL_SECRET, UPLOAD_SIGNATURE_TTL_S),
    };
    const ctx = { opId: String(job.id), requestId };
    try {
      const reply = await withActionEvent(this.db, { serverId, requestId, event: 'compute_snapshot_instance', host: hostId }, () =>
        this.agents.snapshot(hostId, serverId, imageId, upload, ctx),
      );
      this.logger.log(`server ${serverId} snapshot into image ${imageId} done on ${hostId}: ${reply.sizeBytes} bytes requestId=${requestId}`);
    } catch (error) {
      // Our wait may have ended before the agent's upload did.
      if ((await this.imageStatus(imageId, caller, requestId)) !== ImageStatus.Active) {
        if (error instanceof TimeoutError && job.attemptsMade + 1 < (job.opts.attempts ?? 1)) throw error;
        await this.finish(serverId, requestId);
        await this.dropImage(imageId, caller, requestId);
        this.logger.warn(`snapshot of ${serverId} into image ${imageId} failed on ${hostId}: ${(error as Error).message}`);
        return 'failed';
      }
    }
    await this.finish(serverId, requestId);
    return 'done';
  }

  private async ownsTaskState(serverId: string, requestId: string): Promise<boolean> {
    const rows: unknown[] = await this.db.query(`SELECT 1 FROM compute.servers s WHERE ${OWNS_TASK_STATE}`, [serverId, requestId]);
    return rows.length === 1;
  }

  /** Clears the task state if this job still owns it. */
  private async finish(serverId: string, requestId: string): Promise<void> {
    await this.db.query(`UPDATE compute.servers s SET task_state = NULL, updated_at = now() WHERE ${OWNS_TASK_STATE}`, [serverId, requestId]);
  }

  /** The image's status, or `deleted` when the image store knows it no more. */
  private async imageStatus(imageId: string, caller: { projectId: string; isAdmin: boolean }, requestId: string): Promise<string> {
    try {
      const image = await this.rpc.call(subjects.service('image', ImageOps.get.op), ImageOps.get, { imageId, ...caller }, { requestId });
      return image.status;
    } catch (error) {
      if (error instanceof NotFoundError) return ImageStatus.Deleted;
      throw error;
    }
  }

  private async dropImage(imageId: string, caller: { projectId: string; isAdmin: boolean }, requestId: string): Promise<void> {
    try {
      await this.rpc.call(subjects.service('image', ImageOps.delete.op), ImageOps.delete, { caller, imageId }, { requestId });
    } catch (error) {
      if (error instanceof NotFoundError) return;
      this.logger.warn(`could not delete the failed snapshot image ${imageId}: ${(error as Error).message}`);
    }
  }
}
