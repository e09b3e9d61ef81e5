import { DynamicModule, Module } from '@nestjs/common';
import { openDataSource } from '@nubo/database';
import { RpcClient, RpcServer } from '@nubo/messaging';
import { DataSource } from 'typeorm';
import { BindingHandlers } from './binding/binding.handlers';
import { InterfaceBindingService } from './binding/interface-binding.service';
import { DataplaneFollowUp } from './binding/dataplane-follow-up';
import { HostSync } from './binding/host-sync';
import { HOST_SYNC, NETWORK_NODE, PortBindingService } from './binding/port-binding.service';
import { PortMigrationService } from './binding/port-migration.service';
import { networkNodeFactory } from './dataplane/network-node.factory';
import { NetworkConfig, VNI_RANGE, vniRange } from './config';
import { ROUTER_SYNC, routerSyncFactory } from './dataplane/router-sync';
import { FloatingIpsService } from './floating-ips/floating-ips.service';
import { NeutronHandlers } from './neutron.handlers';
import { NetworksService } from './networks/networks.service';
import { PortsService } from './ports/ports.service';
import { L3Changes } from './routers/l3-store';
import { RouterInterfacesService } from './routers/router-interfaces.service';
import { RoutersService } from './routers/routers.service';
import { SecurityGroupRulesService } from './security-groups/security-group-rules.service';
import { SecurityGroupsService } from './security-groups/security-groups.service';
import { SubnetsService } from './subnets/subnets.service';

@Module({})
export class NetworkModule {
  static register(config: NetworkConfig, rpcServer: RpcServer): DynamicModule {
    return {
      module: NetworkModule,
      providers: [
        { provide: RpcServer, useValue: rpcServer },
        { provide: VNI_RANGE, useValue: vniRange(config.NUBO_NETWORK_VNI_RANGE) },
        {
          provide: DataSource,
          useFactory: () => openDataSource({ url: config.NUBO_DATABASE_URL, schemas: ['network'], applicationName: 'nubo-network' }),
        },
        NetworksService,
        SubnetsService,
        PortsService,
        SecurityGroupsService,
        SecurityGroupRulesService,
        L3Changes,
        RoutersService,
        RouterInterfacesService,
        FloatingIpsService,
        NeutronHandlers,
        {
          // Calls to the agents (network.sync); connected before the handlers serve.
          provide: RpcClient,
          useFactory: async () => {
            const client = new RpcClient({ url: config.NUBO_NATS_URL, name: 'nubo-network-agents' });
            await client.connect();
            return client;
          },
        },
        { provide: HOST_SYNC, useFactory: (db: DataSource, agents: RpcClient) => new HostSync(db, agents), inject: [DataSource, RpcClient] },
        { provide: NETWORK_NODE, useFactory: networkNodeFactory(config), inject: [DataSource, PortsService] },
        // Neutron's L3 agent beside the node (none without one), started after the node's first sync.
        { provide: ROUTER_SYNC, useFactory: routerSyncFactory(config), inject: [DataSource, L3Changes, NETWORK_NODE, HOST_SYNC] },
        PortBindingService,
        PortMigrationService,
        DataplaneFollowUp,
        BindingHandlers,
        InterfaceBindingService,
      ],
    };
  }
}
