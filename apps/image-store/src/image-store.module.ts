import { DynamicModule, Module } from '@nestjs/common';
import { openDataSource } from '@nubo/database';
import { RpcServer } from '@nubo/messaging';
import { DataSource } from 'typeorm';
import { IMAGE_CONFIG, ImageConfig, imageDir } from './config';
import { ImageConversionHandlers } from './conversion/image-conversion.handlers';
import { ImageConversionService } from './conversion/image-conversion.service';
import { ImageConvertJobHandler } from './conversion/image-convert.job';
import { ImageJobsRunner, createImageJobQueue } from './conversion/image-jobs';
import { IMAGE_JOB_QUEUE } from './conversion/image-jobs.token';
import { ImageBytesService } from './http/image-bytes.service';
import { ImageHttpServer } from './http/image-http.server';
import { ImageFiles } from './images/image-files';
import { ImagesHandlers } from './images/images.handlers';
import { ImageQuotas } from './images/image-quotas';
import { ImagesService } from './images/images.service';
import { ImageMembersHandlers } from './members/image-members.handlers';
import { ImageMembersService } from './members/image-members.service';
import { FsImageStorage } from './storage/fs-image-storage';
import { IMAGE_STORAGE } from './storage/image-storage.token';

@Module({})
export class ImageStoreModule {
  static register(config: ImageConfig, rpcServer: RpcServer): DynamicModule {
    return {
      module: ImageStoreModule,
      providers: [
        { provide: IMAGE_CONFIG, useValue: config },
        { provide: RpcServer, useValue: rpcServer },
        {
          provide: DataSource,
          useFactory: () => openDataSource({ url: config.NUBO_DATABASE_URL, schemas: ['image'], applicationName: 'nubo-image-store' }),
        },
        {
          provide: IMAGE_STORAGE,
          useFactory: async () => {
            const storage = new FsImageStorage(imageDir(config));
            await storage.init();
            return storage;
          },
        },
        ImageFiles,
        ImagesService,
        ImageQuotas,
        ImagesHandlers,
        ImageBytesService,
        ImageHttpServer,
        ImageMembersService,
        ImageMembersHandlers,
        { provide: IMAGE_JOB_QUEUE, useFactory: () => createImageJobQueue(config) },
        ImageConvertJobHandler,
        ImageJobsRunner,
        ImageConversionService,
        ImageConversionHandlers,
      ],
    };
  }
}
