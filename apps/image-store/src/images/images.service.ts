/** Image metadata in PostgreSQL: Glance's create, show, list, update, delete and upload states. */
import { Inject, Injectable } from '@nestjs/common';
import {
  ConflictError,
  ForbiddenError,
  ImageCaller,
  ImageListReply,
  ImageRecord,
  ImageStatus,
  NotFoundError,
  ValidationError,
} from '@nubo/contracts';
import { ImageEntity, ImageMemberEntity } from '@nubo/database';
import { randomUUID } from 'node:crypto';
import { DataSource, EntityManager, In } from 'typeorm';
import { Membership, SeeOptions, canModify, canSee, isOwner } from './image-access';
import { parseCreateBody } from './image-body';
import { ImageFiles } from './image-files';
import { ImageQuotas } from './image-quotas';
import { afterMarkerSql, listWhereSql, orderBySql, parseListQuery } from './image-list-query';
import { applyPatch } from './image-patch';
import { columnsOf, mutableOf, toRecord } from './image-record';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface FindOptions extends SeeOptions {
  manager?: EntityManager;
  /** Locks the row (SELECT ... FOR UPDATE) inside `manager`'s transaction. */
  forUpdate?: boolean;
}

@Injectable()
export class ImagesService {
  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(ImageFiles) private readonly files: ImageFiles,
    @Inject(ImageQuotas) private readonly quotas: ImageQuotas,
  ) {}

  /**
   * The live image `imageId` as `caller` may see it; anything else is a 404. A shared image's
   * member sees it once accepted, or in any member status with `anyMemberStatus` (Glance's show).
   */
  async find(imageId: string, caller: ImageCaller, options: FindOptions = {}): Promise<ImageEntity> {
    const manager = options.manager ?? this.db.manager;
    const image = UUID.test(imageId)
      ? await manager.getRepository(ImageEntity).findOne({ where: { id: imageId.toLowerCase() }, ...(options.forUpdate ? { lock: { mode: 'pessimistic_write' as const } } : {}) })
      : null;
    if (!image || image.deletedAt || !canSee(image, caller, await this.membership(image, caller, manager), options)) {
      throw new NotFoundError(`No image found with ID ${imageId}`);
    }
    return image;
  }

  /** The caller's member status on a shared image it does not own (null otherwise: not needed). */
  private async membership(image: ImageEntity, caller: ImageCaller, manager: EntityManager): Promise<Membership> {
    if (image.visibility !== 'shared' || isOwner(image, caller)) return null;
    const row = await manager.getRepository(ImageMemberEntity).findOneBy({ imageId: image.id, member: caller.projectId });
    return (row?.status as Membership | undefined) ?? null;
  }

  async get(imageId: string, caller: ImageCaller, options: { anyMemberStatus?: boolean } = {}): Promise<ImageRecord> {
    return toRecord(await this.find(imageId, caller, options));
  }

  async list(caller: ImageCaller, query: Record<string, string | string[]> = {}): Promise<ImageListReply> {
    const spec = parseListQuery(query);
    const params: unknown[] = [];
    let where = listWhereSql(spec, caller, params);
    if (spec.marker !== undefined) {
      // The marker must be an image this caller can list (Glance: 400 otherwise).
      const markerOk = UUID.test(spec.marker) && (await this.find(spec.marker, caller, { anyMemberStatus: true }).then(() => true, () => false));
      if (!markerOk) throw new ValidationError(`Invalid marker. Image ${spec.marker} could not be found.`, 'marker');
      params.push(spec.marker.toLowerCase());
      where += ` AND ${afterMarkerSql(spec, `$${params.length}`)}`;
    }
    params.push(spec.limit + 1);
    const rows: Array<{ id: string }> = await this.db.query(
      `SELECT i.id FROM image.images i WHERE ${where} ORDER BY ${orderBySql(spec)} LIMIT $${params.length}`,
      params,
    );
    const page = rows.slice(0, spec.limit).map((r) => r.id);
    const byId = new Map((page.length ? await this.db.getRepository(ImageEntity).findBy({ id: In(page) }) : []).map((i) => [i.id, i]));
    const images = page.map((id) => byId.get(id)).filter((i): i is ImageEntity => !!i).map(toRecord);
    return rows.length > spec.limit && page.length ? { images, nextMarker: page[page.length - 1] } : { images };
  }

  async create(caller: ImageCaller, body: unknown): Promise<ImageRecord> {
    const fields = parseCreateBody(body, caller);
    const id = fields.id ?? randomUUID();
    const repo = this.db.getRepository(ImageEntity);
    try {
      await this.db.transaction(async (tx) => {
        await this.quotas.checkCount(tx, fields.projectId ?? caller.projectId);
        await tx.getRepository(ImageEntity).insert({ id, status: ImageStatus.Queued, ...columnsOf(fields) });
      });
    } catch (error) {
      const code = (error as { driverError?: { code?: string } }).driverError?.code;
      if (code === '23505') throw new ConflictError(`Image with identifier ${id} already exists!`);
      throw error;
    }
    return toRecord(await repo.findOneByOrFail({ id }));
  }

  async update(caller: ImageCaller, imageId: string, patch: unknown): Promise<ImageRecord> {
    return this.db.transaction(async (manager) => {
      const image = await this.find(imageId, caller, { manager, forUpdate: true, anyMemberStatus: true });
      if (!canModify(image, caller)) throw new ForbiddenError(`You are not permitted to modify image ${image.id}.`);
      const next = applyPatch(mutableOf(image), patch, caller, image.status);
      await manager.getRepository(ImageEntity).update({ id: image.id }, { ...columnsOf(next), updatedAt: () => 'now()' } as never);
      return toRecord(await manager.getRepository(ImageEntity).findOneByOrFail({ id: image.id }));
    });
  }

  async delete(caller: ImageCaller, imageId: string): Promise<void> {
    const fileKey = await this.db.transaction(async (manager) => {
      const image = await this.find(imageId, caller, { manager, forUpdate: true, anyMemberStatus: true });
      if (!canModify(image, caller)) throw new ForbiddenError(`You are not permitted to delete image ${image.id}.`);
      if (image.protected) throw new ForbiddenError(`Image ${image.id} is protected and cannot be deleted.`);
      await manager.query(`UPDATE image.images SET status = 'deleted', deleted_at = now(), updated_at = now() WHERE id = $1`, [image.id]);
      return image.fileKey;
    });
    if (fileKey) await this.files.release(fileKey);
  }

  /** queued -> saving, for the caller's upload. Answers like Glance when the image cannot take data. */
  async beginUpload(imageId: string, caller: ImageCaller): Promise<ImageEntity> {
    const image = await this.find(imageId, caller, { anyMemberStatus: true });
    if (!canModify(image, caller)) throw new ForbiddenError(`You are not permitted to upload data to image ${image.id}.`);
    if (!image.diskFormat || !image.containerFormat) {
      throw new ValidationError('Properties disk_format, container_format must be set prior to saving data.', 'disk_format');
    }
    const [rows] = (await this.db.query(
      `UPDATE image.images SET status = 'saving', updated_at = now() WHERE id = $1 AND status = 'queued' AND deleted_at IS NULL RETURNING id`,
      [image.id],
    )) as [unknown[], number];
    if (rows.length === 0) throw new ConflictError(`Image status transition from ${image.status} to saving is not allowed`);
    return image;
  }

  /** saving -> queued after a failed or refused upload, as Glance restores it. */
  async abortUpload(imageId: string): Promise<void> {
    await this.db.query(`UPDATE image.images SET status = 'queued', updated_at = now() WHERE id = $1 AND status = 'saving'`, [imageId]);
  }
}
