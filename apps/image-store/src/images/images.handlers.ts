/** image.* handlers: metadata lookups with visibility rules. Glance, bytes and qemu-img come with issue #4. */
import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { HealthOps, ImageOps, ImageSummary, NotFoundError, subjects } from '@nubo/contracts';
import { ImageEntity } from '@nubo/database';
import { probe, runChecks } from '@nubo/health';
import { RpcServer } from '@nubo/messaging';
import { DataSource } from 'typeorm';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const summary = (i: ImageEntity): ImageSummary => ({ id: i.id, name: i.name, status: i.status, visibility: i.visibility, projectId: i.projectId });

@Injectable()
export class ImagesHandlers implements OnModuleInit {
  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(RpcServer) private readonly rpc: RpcServer,
  ) {}

  onModuleInit(): void {
    this.rpc.handle(subjects.service('image', ImageOps.get.op), ImageOps.get, async ({ imageId, projectId }) => {
      const image = UUID.test(imageId) ? await this.db.getRepository(ImageEntity).findOneBy({ id: imageId }) : null;
      // Another project's private image is indistinguishable from a missing one.
      if (!image || (image.projectId !== projectId && image.visibility !== 'public')) {
        throw new NotFoundError(`No image found with ID ${imageId}`);
      }
      return summary(image);
    });
    this.rpc.handle(subjects.service('image', ImageOps.list.op), ImageOps.list, async ({ projectId }) => {
      const rows = await this.db
        .getRepository(ImageEntity)
        .createQueryBuilder('i')
        .where(`i.projectId = :projectId OR i.visibility = 'public'`, { projectId })
        .orderBy('i.createdAt', 'DESC')
        .getMany();
      return { images: rows.map(summary) };
    });
    this.rpc.handle(subjects.service('image', HealthOps.check.op), HealthOps.check, async () => ({
      service: 'image-store',
      ...(await runChecks(async () => ({ postgres: await probe(() => this.db.query('SELECT 1')) }))),
    }));
  }
}
