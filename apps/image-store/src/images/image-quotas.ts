/**
 * Per-project image quota: a number of images and a number of bytes (Glance's image_count_total
 * and image_size_total). Creates of one project are serialized by an advisory lock so parallel
 * requests cannot pass the count together; the byte limit bounds each upload's stream.
 */
import { Inject, Injectable } from '@nestjs/common';
import { QuotaExceededError } from '@nubo/contracts';
import { DataSource, EntityManager } from 'typeorm';
import { IMAGE_CONFIG, ImageConfig } from '../config';

@Injectable()
export class ImageQuotas {
  constructor(
    @Inject(IMAGE_CONFIG) private readonly config: ImageConfig,
    @Inject(DataSource) private readonly db: DataSource,
  ) {}

  /** Inside the creating transaction: refuses the image past the project's count. */
  async checkCount(tx: EntityManager, projectId: string): Promise<void> {
    await tx.query(`SELECT pg_advisory_xact_lock(hashtext('image-quota:' || $1))`, [projectId]);
    const [{ n }] = await tx.query(`SELECT count(*)::int AS n FROM image.images WHERE project_id = $1 AND deleted_at IS NULL`, [projectId]);
    const limit = this.config.NUBO_IMAGE_QUOTA_COUNT;
    if (n + 1 > limit) {
      throw new QuotaExceededError(`Maximum number of images exceeded: the project has ${n} of ${limit}`, { resource: 'image_count_total', limit });
    }
  }

  /** Bytes the project may still upload. */
  async remainingBytes(projectId: string): Promise<number> {
    const [{ used }] = await this.db.query(
      `SELECT COALESCE(SUM(size_bytes), 0)::bigint AS used FROM image.images WHERE project_id = $1 AND deleted_at IS NULL`,
      [projectId],
    );
    return Math.max(0, this.config.NUBO_IMAGE_QUOTA_BYTES - Number(used));
  }
}
