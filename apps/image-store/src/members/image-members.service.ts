/** Glance's image members in PostgreSQL (image.image_members): share a `shared` image with projects. */
import { Inject, Injectable, Logger } from '@nestjs/common';
import { ConflictError, ImageCaller, ImageMemberRecord, ImageMemberStatus, QuotaExceededError } from '@nubo/contracts';
import { ImageMemberEntity } from '@nubo/database';
import { DataSource } from 'typeorm';
import { ImagesService } from '../images/images.service';
import {
  MAX_MEMBERS_PER_IMAGE,
  authorizeMemberAction,
  memberNotFound,
  parseMemberCreateBody,
  parseMemberUpdateBody,
} from './image-member-rules';

export function toMemberRecord(m: ImageMemberEntity): ImageMemberRecord {
  return {
    imageId: m.imageId,
    memberId: m.member,
    status: m.status as ImageMemberStatus,
    createdAt: m.createdAt.toISOString(),
    updatedAt: m.updatedAt.toISOString(),
  };
}

// A member must see the image whatever its answer, to give or change it (as in Glance).
const MEMBER_VIEW = { anyMemberStatus: true };

@Injectable()
export class ImageMembersService {
  private readonly logger = new Logger(ImageMembersService.name);

  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(ImagesService) private readonly images: ImagesService,
  ) {}

  async list(caller: ImageCaller, imageId: string): Promise<ImageMemberRecord[]> {
    const image = await this.images.find(imageId, caller, MEMBER_VIEW);
    const scope = authorizeMemberAction('list', image, caller);
    const where = scope === 'all' ? { imageId: image.id } : { imageId: image.id, member: caller.projectId };
    const rows = await this.db.getRepository(ImageMemberEntity).find({ where, order: { createdAt: 'ASC', member: 'ASC' } });
    return rows.map(toMemberRecord);
  }

  async get(caller: ImageCaller, imageId: string, memberId: string): Promise<ImageMemberRecord> {
    const image = await this.images.find(imageId, caller, MEMBER_VIEW);
    authorizeMemberAction('get', image, caller, memberId);
    const row = await this.db.getRepository(ImageMemberEntity).findOneBy({ imageId: image.id, member: memberId });
    if (!row) throw memberNotFound(memberId, image.id);
    return toMemberRecord(row);
  }

  async create(caller: ImageCaller, imageId: string, body: unknown): Promise<ImageMemberRecord> {
    const memberId = parseMemberCreateBody(body);
    return this.db.transaction(async (manager) => {
      // The image row lock serialises adds, so the member cap holds under concurrency.
      const image = await this.images.find(imageId, caller, { ...MEMBER_VIEW, manager, forUpdate: true });
      authorizeMemberAction('create', image, caller, memberId);
      const repo = manager.getRepository(ImageMemberEntity);
      if (await repo.existsBy({ imageId: image.id, member: memberId })) {
        throw new ConflictError(`Member ${memberId} is duplicated for image ${image.id}`);
      }
      const count = await repo.countBy({ imageId: image.id });
      if (count >= MAX_MEMBERS_PER_IMAGE) {
        throw new QuotaExceededError(
          `Image member limit exceeded for image ${image.id}: The limit has been exceeded: attempted: ${count + 1}, maximum: ${MAX_MEMBERS_PER_IMAGE}`,
          { limit: 'image_members' },
        );
      }
      await repo.insert({ imageId: image.id, member: memberId, status: 'pending' });
      this.logger.log(`image ${image.id} shared with project ${memberId}`);
      return toMemberRecord(await repo.findOneByOrFail({ imageId: image.id, member: memberId }));
    });
  }

  async update(caller: ImageCaller, imageId: string, memberId: string, body: unknown): Promise<ImageMemberRecord> {
    const image = await this.images.find(imageId, caller, MEMBER_VIEW);
    authorizeMemberAction('update', image, caller, memberId);
    const status = parseMemberUpdateBody(body);
    const [rows] = (await this.db.query(
      `UPDATE image.image_members SET status = $3, updated_at = now() WHERE image_id = $1 AND member = $2 RETURNING image_id`,
      [image.id, memberId, status],
    )) as [unknown[], number];
    if (rows.length === 0) throw memberNotFound(memberId, image.id);
    this.logger.log(`project ${memberId} ${status} image ${image.id}`);
    return toMemberRecord(await this.db.getRepository(ImageMemberEntity).findOneByOrFail({ imageId: image.id, member: memberId }));
  }

  async delete(caller: ImageCaller, imageId: string, memberId: string): Promise<void> {
    const image = await this.images.find(imageId, caller, MEMBER_VIEW);
    authorizeMemberAction('delete', image, caller, memberId);
    const result = await this.db.getRepository(ImageMemberEntity).delete({ imageId: image.id, member: memberId });
    if (!result.affected) throw memberNotFound(memberId, image.id);
    this.logger.log(`image ${image.id} no longer shared with project ${memberId}`);
  }
}
