import { DynamicModule, Module } from '@nestjs/common';
import { openDataSource } from '@nubo/database';
import { RpcServer } from '@nubo/messaging';
import { DataSource } from 'typeorm';
import { ImageConfig } from './config';
import { ImagesHandlers } from './images/images.handlers';

@Module({})
export class ImageStoreModule {
  static register(config: ImageConfig, rpcServer: RpcServer): DynamicModule {
    return {
      module: ImageStoreModule,
      providers: [
        { provide: RpcServer, useValue: rpcServer },
        {
          provide: DataSource,
          useFactory: () => openDataSource({ url: config.NUBO_DATABASE_URL, schemas: ['image'], applicationName: 'nubo-image-store' }),
        },
        ImagesHandlers,
      ],
    };
  }
}
