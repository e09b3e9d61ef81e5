import { DynamicModule, Module } from '@nestjs/common';
import { openDataSource } from '@nubo/database';
import { RpcServer } from '@nubo/messaging';
import { DataSource } from 'typeorm';
import { NetworkConfig } from './config';
import { NetworksHandlers } from './networks/networks.handlers';

@Module({})
export class NetworkModule {
  static register(config: NetworkConfig, rpcServer: RpcServer): DynamicModule {
    return {
      module: NetworkModule,
      providers: [
        { provide: RpcServer, useValue: rpcServer },
        {
          provide: DataSource,
          useFactory: () => openDataSource({ url: config.NUBO_DATABASE_URL, schemas: ['network'], applicationName: 'nubo-network' }),
        },
        NetworksHandlers,
      ],
    };
  }
}
