/**
 * Nova's createImage: the image is made (queued) in the image store, owned by the server's project
 * and described as Nova describes a snapshot; then the task state `image_snapshot` is claimed with
 * the same compare-and-set as other actions, the action recorded and `server.snapshot` enqueued.
 * Whatever fails before the job is queued takes the image (and the task state) back.
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import { ConflictError, ImageCaller, ImageOps, ImageRecord, NotFoundError, QuotaExceededError, TaskState, TimeoutError, jobId, subjects } from '@nubo/contracts';
import { ServerEntity, recordAction } from '@nubo/database';
import { JobQueue } from '@nubo/jobs';
import { RpcClient } from '@nubo/messaging';
import { DataSource } from 'typeorm';
import { AuthContext } from '../common/auth-context';
import { QuotaService } from './quotas/quota.service';
import { CREATE_IMAGE_ACTION, CreateImageRequest, SNAPSHOT_FROM } from './server-actions';

/** Nova's NON_INHERITABLE_IMAGE_PROPERTIES and its default non_inheritable_image_properties. */
const NOT_INHERITED = new Set([
  'cinder_encryption_key_id', 'cinder_encryption_key_deletion_policy', 'img_signature', 'img_signature_hash_method',
  'img_signature_key_type', 'img_signature_certificate_uuid', 'cache_in_nova', 'bittorrent',
]);

/**
 * The Glance create body of a snapshot (pure): the base image's properties, then Nova's own
 * (instance_uuid, user_id, image_type), then the caller's metadata, each winning over the one before;
 * min_disk as the server was booted (at least its flavor's disk).
 */
export function snapshotImageBody(o: { server: ServerEntity; userId: string; request: CreateImageRequest; base?: ImageRecord }): Record<string, unknown> {
  const inherited = Object.fromEntries(Object.entries(o.base?.properties ?? {}).filter(([key]) => !NOT_INHERITED.has(key) && !key.startsWith('os_glance')));
  return {
    ...inherited,
    ...(o.server.imageRef ? { base_image_ref: o.server.imageRef } : {}),
    instance_uuid: o.server.id,
    user_id: o.userId,
    image_type: 'snapshot',
    ...o.request.metadata,
    name: o.request.name,
    disk_format: 'qcow2',
    container_format: 'bare',
    visibility: 'private',
    min_disk: Math.max(o.base?.minDisk ?? 0, o.server.flavor.diskGb),
    min_ram: o.base?.minRam ?? 0,
  };
}

@Injectable()
export class ServerSnapshotService {
  private readonly logger = new Logger(ServerSnapshotService.name);

  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(JobQueue) private readonly jobs: JobQueue,
    @Inject(RpcClient) private readonly rpc: RpcClient,
    @Inject(QuotaService) private readonly quotas: QuotaService,
  ) {}

  /** Starts a snapshot of `server`; resolves with the new image's id. */
  async createImage(server: ServerEntity, request: CreateImageRequest, auth: AuthContext, requestId: string): Promise<string> {
    this.assertState(server);
    if (!server.imageRef) throw new ConflictError(`Instance ${server.id} has no disk of its own to snapshot`);
    const limit = (await this.quotas.limits(this.db, server.projectId)).metadata_items;
    if (limit >= 0 && Object.keys(request.metadata).length > limit) throw new QuotaExceededError('Image metadata limit exceeded');

    // The image belongs to the server's project, whoever asks (an admin snapshotting it included).
    const caller: ImageCaller = { projectId: server.projectId, isAdmin: false };
    const base = await this.baseImage(server.imageRef, caller, requestId);
    if (base?.diskFormat === 'iso') throw new ConflictError(`Instance ${server.id} boots from an ISO and has no disk of its own to snapshot`);
    const body = snapshotImageBody({ server, userId: auth.userId, request, base });
    const image = await this.rpc.call(subjects.service('image', ImageOps.create.op), ImageOps.create, { caller, body }, { requestId });

    const claimed = await this.db.transaction(async (tx) => {
      const result = await tx.query(
        `UPDATE compute.servers SET task_state = $2, updated_at = now()
          WHERE id = $1 AND deleted_at IS NULL AND task_state IS NULL AND vm_state = ANY($3)`,
        [server.id, TaskState.ImageSnapshot, SNAPSHOT_FROM],
      );
      if (result[1] !== 1) return false;
      await recordAction(tx, { serverId: server.id, projectId: server.projectId, userId: auth.userId, action: CREATE_IMAGE_ACTION, requestId });
      return true;
    });
    if (!claimed) {
      await this.dropImage(image.id, caller, requestId);
      const now = await this.db.getRepository(ServerEntity).findOneBy({ id: server.id });
      this.assertState(now ?? server);
      throw new ConflictError(`Cannot '${CREATE_IMAGE_ACTION}' instance ${server.id} while it is in task_state ${now?.taskState ?? 'deleting'}`);
    }
    try {
      await this.jobs.enqueue('server.snapshot', { serverId: server.id, requestId, imageId: image.id }, { jobId: jobId('server.snapshot', server.id, requestId) });
    } catch (error) {
      await this.db.query(`UPDATE compute.servers SET task_state = NULL WHERE id = $1 AND task_state = $2`, [server.id, TaskState.ImageSnapshot]);
      await this.dropImage(image.id, caller, requestId);
      this.logger.error(`could not enqueue the snapshot of ${server.id}: ${(error as Error).message}`);
      throw new TimeoutError('The job queue is unavailable; the snapshot was not started. Try again.');
    }
    this.logger.log(`snapshot of server ${server.id} into image ${image.id} queued requestId=${requestId}`);
    return image.id;
  }

  /** Nova's check_instance_state for snapshot: 409 naming what is in the way. */
  private assertState(server: ServerEntity): void {
    if (server.taskState) {
      throw new ConflictError(`Cannot '${CREATE_IMAGE_ACTION}' instance ${server.id} while it is in task_state ${server.taskState}`);
    }
    if (!SNAPSHOT_FROM.includes(server.vmState)) {
      throw new ConflictError(`Cannot '${CREATE_IMAGE_ACTION}' instance ${server.id} while it is in vm_state ${server.vmState}`);
    }
  }

  /** The server's image as it is now; a deleted one (NotFound) leaves nothing to inherit. */
  private async baseImage(imageId: string, caller: ImageCaller, requestId: string): Promise<ImageRecord | undefined> {
    try {
      return await this.rpc.call(subjects.service('image', ImageOps.get.op), ImageOps.get, { imageId, ...caller }, { requestId });
    } catch (error) {
      if (error instanceof NotFoundError) return undefined;
      throw error;
    }
  }

  private async dropImage(imageId: string, caller: ImageCaller, requestId: string): Promise<void> {
    await this.rpc
      .call(subjects.service('image', ImageOps.delete.op), ImageOps.delete, { caller, imageId }, { requestId })
      .catch((error: Error) => this.logger.warn(`could not delete image ${imageId} of a snapshot that did not start: ${error.message}`));
  }
}
