/**
 * Reference counting of content-addressed files. Rows are the references: a file goes when no live
 * row points at it. Every step that adds or drops a reference to a key holds a PostgreSQL advisory
 * lock on that key, so a delete of the last reference and an upload of the same bytes (possibly on
 * another replica) never interleave into an active image without its file.
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import { ImageEntity } from '@nubo/database';
import { DataSource, QueryRunner } from 'typeorm';
import { IMAGE_STORAGE } from '../storage/image-storage.token';
import { ImageStorage, StagedUpload } from '../storage/image-storage';

export interface ActivationFields {
  virtualSize: number;
}

@Injectable()
export class ImageFiles {
  private readonly logger = new Logger(ImageFiles.name);

  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(IMAGE_STORAGE) private readonly storage: ImageStorage,
  ) {}

  private async withKeyLock<T>(key: string, fn: (q: QueryRunner) => Promise<T>): Promise<T> {
    const q = this.db.createQueryRunner();
    await q.connect();
    try {
      await q.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [`nubo-image-file:${key}`]);
      try {
        return await fn(q);
      } finally {
        await q.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [`nubo-image-file:${key}`]);
      }
    } finally {
      await q.release();
    }
  }

  private async unreferenced(q: QueryRunner, key: string): Promise<boolean> {
    const rows: unknown[] = await q.query('SELECT 1 FROM image.images WHERE file_key = $1 AND deleted_at IS NULL LIMIT 1', [key]);
    return rows.length === 0;
  }

  /**
   * Commits the staged bytes and makes the image active, if it is still saving. Returns the active
   * row, or null when the image was deleted (or changed) during the upload: then nothing is kept.
   */
  async activate(imageId: string, staged: StagedUpload, fields: ActivationFields): Promise<ImageEntity | null> {
    return this.withKeyLock(staged.sha256, async (q) => {
      const key = await this.storage.commit(staged);
      let rows: Array<{ id: string }> = [];
      try {
        [rows] = (await q.query(
          `UPDATE image.images SET status = 'active', size_bytes = $2, virtual_size = $3, checksum = $4,
             os_hash_algo = 'sha256', os_hash_value = $5, file_key = $6, updated_at = now()
           WHERE id = $1 AND status = 'saving' AND deleted_at IS NULL RETURNING id`,
          [imageId, staged.size, fields.virtualSize, staged.md5, staged.sha256, key],
        )) as [Array<{ id: string }>, number];
      } finally {
        // No row took the file (deleted meanwhile, or the update failed): do not keep it for nothing.
        if (rows.length === 0 && (await this.unreferenced(q, key).catch(() => false))) await this.storage.remove(key);
      }
      if (rows.length === 0) return null;
      return q.manager.getRepository(ImageEntity).findOneByOrFail({ id: imageId });
    });
  }

  /** Drops the file of `key` if no live image points at it any more. */
  async release(key: string): Promise<void> {
    await this.withKeyLock(key, async (q) => {
      if (await this.unreferenced(q, key)) {
        await this.storage.remove(key);
        this.logger.log(`removed image file ${key}: no image uses it`);
      }
    });
  }
}
