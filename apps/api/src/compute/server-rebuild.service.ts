/**
 * Nova's rebuild, API side: the image is checked as for create (another project's private image
 * is 400), then, in one compare-and-set, the server takes task state `rebuilding` with its new
 * image (and name, metadata), the action is recorded and `server.rebuild` enqueued. The server
 * keeps its id, host, flavor and addresses; the scheduler's job recreates its root disk.
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import { ConflictError, ImageOps, ImageRecord, NotFoundError, TaskState, TimeoutError, ValidationError, jobId, subjects } from '@nubo/contracts';
import { ServerEntity, recordAction } from '@nubo/database';
import { JobQueue } from '@nubo/jobs';
import { RpcClient } from '@nubo/messaging';
import { DataSource } from 'typeorm';
import { AuthContext } from '../common/auth-context';
import { REBUILD_ACTION, REBUILD_FROM, RebuildRequest, flavorImageProblem, generateAdminPass } from './server-rebuild';

export interface RebuildAccepted {
  server: ServerEntity;
  /** Nova answers with the password it was given, or one it made up (enable_instance_password). */
  adminPass: string;
}

@Injectable()
export class ServerRebuildService {
  private readonly logger = new Logger(ServerRebuildService.name);

  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(JobQueue) private readonly jobs: JobQueue,
    @Inject(RpcClient) private readonly rpc: RpcClient,
  ) {}

  async rebuild(server: ServerEntity, request: RebuildRequest, auth: AuthContext, requestId: string): Promise<RebuildAccepted> {
    assertRebuildable(server);
    // The image is the server's project's to use: the job resolves it for that project too.
    const image = await this.image(request.imageRef, server.projectId, requestId);
    const problem = flavorImageProblem(server.flavor, image);
    if (problem) throw new ValidationError(problem, 'imageRef');

    const claimed = await this.db.transaction(async (tx) => {
      const result = await tx.query(
        `UPDATE compute.servers SET task_state = $2, image_ref = $4, name = COALESCE($5, name),
                metadata = COALESCE($6::jsonb, metadata), description = CASE WHEN $7 THEN $8 ELSE description END, updated_at = now()
          WHERE id = $1 AND deleted_at IS NULL AND task_state IS NULL AND vm_state = ANY($3) AND host_id IS NOT NULL`,
        [server.id, TaskState.Rebuilding, REBUILD_FROM, request.imageRef, request.name ?? null, request.metadata ? JSON.stringify(request.metadata) : null,
          request.description !== undefined, request.description ?? null],
      );
      if (result[1] !== 1) return false;
      await recordAction(tx, { serverId: server.id, projectId: server.projectId, userId: auth.userId, action: REBUILD_ACTION, requestId });
      return true;
    });
    if (!claimed) {
      assertRebuildable((await this.db.getRepository(ServerEntity).findOneBy({ id: server.id })) ?? server);
      throw new ConflictError(`Cannot '${REBUILD_ACTION}' instance ${server.id} while it is in task_state deleting`);
    }
    try {
      await this.jobs.enqueue(
        'server.rebuild',
        { serverId: server.id, requestId, preserveEphemeral: request.preserveEphemeral },
        { jobId: jobId('server.rebuild', server.id, requestId) },
      );
    } catch (error) {
      // Not queued: the server gets back what it had, so nothing is half-changed.
      await this.db.query(
        `UPDATE compute.servers SET task_state = NULL, image_ref = $3, name = $4, metadata = $5::jsonb, description = $6 WHERE id = $1 AND task_state = $2`,
        [server.id, TaskState.Rebuilding, server.imageRef, server.name, JSON.stringify(server.metadata), server.description ?? null],
      );
      this.logger.error(`could not enqueue the rebuild of ${server.id}: ${(error as Error).message}`);
      throw new TimeoutError('The job queue is unavailable; the rebuild was not started. Try again.');
    }
    this.logger.log(`rebuild of server ${server.id} from image ${request.imageRef} queued requestId=${requestId}`);
    const now = await this.db.getRepository(ServerEntity).findOneByOrFail({ id: server.id });
    return { server: now, adminPass: request.adminPass ?? generateAdminPass() };
  }

  /** Nova's ImageNotFound ("Cannot find image for rebuild") and ImageNotActive are both 400. */
  private async image(imageId: string, projectId: string, requestId: string): Promise<ImageRecord> {
    let image: ImageRecord;
    try {
      image = await this.rpc.call(subjects.service('image', ImageOps.get.op), ImageOps.get, { imageId, projectId }, { requestId });
    } catch (error) {
      if (error instanceof NotFoundError) throw new ValidationError('Cannot find image for rebuild', 'imageRef');
      throw error;
    }
    if (image.status !== 'active') throw new ValidationError(`Image ${imageId} is not active.`, 'imageRef');
    return image;
  }
}

/** Nova's check_instance_state for rebuild: 409 naming what is in the way. */
export function assertRebuildable(server: ServerEntity): void {
  const why = server.taskState
    ? `task_state ${server.taskState}`
    : !REBUILD_FROM.includes(server.vmState)
      ? `vm_state ${server.vmState}`
      : !server.hostId
        ? 'vm_state error with no host (it was never placed)'
        : undefined;
  if (why) throw new ConflictError(`Cannot '${REBUILD_ACTION}' instance ${server.id} while it is in ${why}`);
}
