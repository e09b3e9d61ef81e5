/** Network-service contracts (queue group `nubo-network`): the v1 list, and Neutron v2.0 below (issue #7). */
import { rpc } from './rpc';

export interface NetworkSummary {
  id: string;
  name: string;
  projectId: string;
  shared: boolean;
}

export const NetworkOps = {
  list: rpc<{ projectId: string }, { networks: NetworkSummary[] }>('network.list', { timeoutMs: 5_000 }),
};

/**
 * Neutron v2.0 (issue #7). The network service is Neutron: it answers in Neutron's own JSON
 * (snake_case, `router:external`, ...), which the api wraps as `{network: ...}` / `{networks: [...]}`.
 * Subjects: `network.<collection>.<action>`, e.g. `network.security-groups.create`.
 */
export interface NeutronCaller {
  projectId: string;
  isAdmin: boolean;
}
/** Neutron query parameters as received (a repeated parameter becomes an array). */
export type NeutronQuery = Record<string, string | string[]>;
export type NeutronResource = Record<string, unknown>;

export const NEUTRON_COLLECTIONS = ['networks', 'subnets', 'ports', 'security-groups', 'security-group-rules', 'routers', 'floatingips'] as const;
export type NeutronCollection = (typeof NEUTRON_COLLECTIONS)[number];

function neutronCrud(collection: NeutronCollection) {
  const op = (action: string) => `${collection}.${action}`;
  return {
    list: rpc<{ caller: NeutronCaller; query: NeutronQuery }, { items: NeutronResource[] }>(op('list'), { timeoutMs: 10_000 }),
    show: rpc<{ caller: NeutronCaller; id: string; query: NeutronQuery }, { item: NeutronResource }>(op('show'), { timeoutMs: 5_000 }),
    create: rpc<{ caller: NeutronCaller; body: unknown }, { item: NeutronResource }>(op('create'), { timeoutMs: 15_000 }),
    update: rpc<{ caller: NeutronCaller; id: string; body: unknown }, { item: NeutronResource }>(op('update'), { timeoutMs: 15_000 }),
    delete: rpc<{ caller: NeutronCaller; id: string }, Record<string, never>>(op('delete'), { timeoutMs: 15_000 }),
  };
}

export const NeutronOps = {
  networks: neutronCrud('networks'),
  subnets: neutronCrud('subnets'),
  ports: neutronCrud('ports'),
  'security-groups': neutronCrud('security-groups'),
  'security-group-rules': neutronCrud('security-group-rules'),
  routers: neutronCrud('routers'),
  floatingips: neutronCrud('floatingips'),
};

/** Neutron's router interface actions (PUT /routers/{id}/add_router_interface, ...); `body` is `{subnet_id}` or `{port_id}`. */
export const NeutronRouterOps = {
  addInterface: rpc<{ caller: NeutronCaller; id: string; body: unknown }, { item: NeutronResource }>('routers.add_router_interface', { timeoutMs: 15_000 }),
  removeInterface: rpc<{ caller: NeutronCaller; id: string; body: unknown }, { item: NeutronResource }>('routers.remove_router_interface', { timeoutMs: 15_000 }),
};
