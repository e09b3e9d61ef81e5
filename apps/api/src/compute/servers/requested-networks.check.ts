/**
 * Before a server with networks is accepted: every network and port it names exists and is
 * visible to the caller (the network service's Neutron show, with the caller's project and role),
 * answered as Nova's API answers (400 NetworkNotFound / PortNotFound, 409 PortInUse). Nothing is
 * reserved here: the scheduler's create workflow binds the ports once the host is chosen.
 */
import { ConflictError, NeutronCaller, NeutronOps, NeutronResource, NotFoundError, RequestedNetwork, ValidationError, subjects } from '@nubo/contracts';
import { RpcClient } from '@nubo/messaging';

export async function checkRequestedNetworks(
  rpc: RpcClient,
  requested: ReadonlyArray<RequestedNetwork>,
  caller: NeutronCaller,
  requestId: string,
): Promise<void> {
  const networks = [...new Set(requested.flatMap((r) => (r.networkId ? [r.networkId] : [])))];
  const ports = requested.flatMap((r) => (r.portId ? [r.portId] : []));
  await Promise.all([...networks.map((id) => checkNetwork(rpc, id, caller, requestId)), ...ports.map((id) => checkPort(rpc, id, caller, requestId))]);
}

async function show(rpc: RpcClient, collection: 'networks' | 'ports', id: string, caller: NeutronCaller, requestId: string): Promise<NeutronResource | undefined> {
  const op = NeutronOps[collection].show;
  try {
    return (await rpc.call(subjects.service('network', op.op), op, { caller, id, query: {} }, { requestId })).item;
  } catch (error) {
    if (error instanceof NotFoundError) return undefined;
    throw error;
  }
}

async function checkNetwork(rpc: RpcClient, id: string, caller: NeutronCaller, requestId: string): Promise<void> {
  const network = await show(rpc, 'networks', id, caller, requestId);
  if (!network) throw new ValidationError(`Network ${id} could not be found.`, 'networks');
  if (Array.isArray(network.subnets) && network.subnets.length === 0) {
    throw new ValidationError(`Network ${id} requires a subnet in order to boot instances on.`, 'networks');
  }
}

async function checkPort(rpc: RpcClient, id: string, caller: NeutronCaller, requestId: string): Promise<void> {
  const port = await show(rpc, 'ports', id, caller, requestId);
  if (!port) throw new ValidationError(`Port id ${id} could not be found.`, 'networks');
  if (typeof port.device_id === 'string' && port.device_id !== '') throw new ConflictError(`Port ${id} is still in use.`);
  if (Array.isArray(port.fixed_ips) && port.fixed_ips.length === 0) {
    throw new ValidationError(`Port ${id} requires a FixedIP in order to be used.`, 'networks');
  }
}
