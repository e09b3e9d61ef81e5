/** Neutron v2.0's core resources, for the api module to register. */
import { NeutronExtensionsController } from './extensions.controller';
import { FloatingIpsController } from './floating-ips.controller';
import { NeutronGateway } from './neutron-gateway';
import { NetworksController } from './networks.controller';
import { PortsController } from './ports.controller';
import { RoutersController } from './routers.controller';
import { SecurityGroupRulesController } from './security-group-rules.controller';
import { SecurityGroupsController } from './security-groups.controller';
import { SubnetsController } from './subnets.controller';

export const NEUTRON_CONTROLLERS = [
  NeutronExtensionsController,
  NetworksController,
  SubnetsController,
  PortsController,
  SecurityGroupsController,
  SecurityGroupRulesController,
  RoutersController,
  FloatingIpsController,
];
export const NEUTRON_PROVIDERS = [NeutronGateway];
