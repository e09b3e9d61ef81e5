/** Forwards Neutron calls to the network service over NATS, with the caller's project and role. */
import { Inject, Injectable } from '@nestjs/common';
import { NeutronCaller, NeutronCollection, NeutronOps, NeutronQuery, NeutronResource, subjects } from '@nubo/contracts';
import { RpcClient } from '@nubo/messaging';
import { AuthContext } from '../common/auth-context';

const callerOf = (auth: AuthContext): NeutronCaller => ({ projectId: auth.projectId, isAdmin: auth.isAdmin });

@Injectable()
export class NeutronGateway {
  constructor(@Inject(RpcClient) private readonly rpc: RpcClient) {}

  async list(collection: NeutronCollection, auth: AuthContext, query: NeutronQuery, requestId: string): Promise<NeutronResource[]> {
    const op = NeutronOps[collection].list;
    return (await this.rpc.call(subjects.service('network', op.op), op, { caller: callerOf(auth), query: query ?? {} }, { requestId })).items;
  }

  async show(collection: NeutronCollection, auth: AuthContext, id: string, query: NeutronQuery, requestId: string): Promise<NeutronResource> {
    const op = NeutronOps[collection].show;
    return (await this.rpc.call(subjects.service('network', op.op), op, { caller: callerOf(auth), id, query: query ?? {} }, { requestId })).item;
  }

  async create(collection: NeutronCollection, auth: AuthContext, body: unknown, requestId: string): Promise<NeutronResource> {
    const op = NeutronOps[collection].create;
    return (await this.rpc.call(subjects.service('network', op.op), op, { caller: callerOf(auth), body: body ?? null }, { requestId })).item;
  }

  async update(collection: NeutronCollection, auth: AuthContext, id: string, body: unknown, requestId: string): Promise<NeutronResource> {
    const op = NeutronOps[collection].update;
    return (await this.rpc.call(subjects.service('network', op.op), op, { caller: callerOf(auth), id, body: body ?? null }, { requestId })).item;
  }

  async delete(collection: NeutronCollection, auth: AuthContext, id: string, requestId: string): Promise<void> {
    const op = NeutronOps[collection].delete;
    await this.rpc.call(subjects.service('network', op.op), op, { caller: callerOf(auth), id }, { requestId });
  }
}
