/** image.* handlers over NATS: Glance's metadata calls. Bytes go over HTTP (../http). */
import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { HealthOps, ImageOps, subjects } from '@nubo/contracts';
import { probe, runChecks } from '@nubo/health';
import { RpcServer } from '@nubo/messaging';
import { DataSource } from 'typeorm';
import { IMAGE_JOB_QUEUE, ImageJobQueue } from '../conversion/image-jobs.token';
import { ImagesService } from './images.service';

@Injectable()
export class ImagesHandlers implements OnModuleInit {
  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(RpcServer) private readonly rpc: RpcServer,
    @Inject(ImagesService) private readonly images: ImagesService,
    @Inject(IMAGE_JOB_QUEUE) private readonly jobs: ImageJobQueue,
  ) {}

  onModuleInit(): void {
    const on = <K extends keyof typeof ImageOps>(op: K) => subjects.service('image', ImageOps[op].op);
    this.rpc.handle(on('get'), ImageOps.get, ({ imageId, projectId, isAdmin, anyMemberStatus }) =>
      this.images.get(imageId, { projectId, isAdmin }, { anyMemberStatus: anyMemberStatus === true }),
    );
    this.rpc.handle(on('list'), ImageOps.list, ({ projectId, isAdmin, query }) => this.images.list({ projectId, isAdmin }, query ?? {}));
    this.rpc.handle(on('create'), ImageOps.create, ({ caller, body }) => this.images.create(caller, body));
    this.rpc.handle(on('update'), ImageOps.update, ({ caller, imageId, patch }) => this.images.update(caller, imageId, patch));
    this.rpc.handle(on('delete'), ImageOps.delete, async ({ caller, imageId }) => {
      await this.images.delete(caller, imageId);
      return { deleted: true as const };
    });
    this.rpc.handle(subjects.service('image', HealthOps.check.op), HealthOps.check, async () => ({
      service: 'image-store',
      ...(await runChecks(async () => ({
        postgres: await probe(() => this.db.query('SELECT 1')),
        redis: await probe(() => this.jobs.ping()),
      }))),
    }));
  }
}
