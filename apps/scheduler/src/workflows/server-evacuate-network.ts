/**
 * The ports of an evacuated server (NetworkMigrationOps, as a live migration moves them): plumbed
 * on the new host before the spawn, bound to it once the server runs there, or the new host's
 * copy dropped when the evacuation fails. The failed host is only told afterwards (the network
 * service logs what it cannot push to a host that is down).
 */
import { Inject, Injectable } from '@nestjs/common';
import { NetworkMigrationOps, subjects } from '@nubo/contracts';
import { RpcClient } from '@nubo/messaging';

@Injectable()
export class EvacuationNetwork {
  constructor(@Inject(RpcClient) private readonly rpc: RpcClient) {}

  call(step: 'prepare' | 'commit' | 'abort', serverId: string, destinationHostId: string, ctx: { requestId: string }): Promise<{ ports: number }> {
    const op = NetworkMigrationOps[step];
    return this.rpc.call(subjects.service('network', op.op), op, { serverId, destinationHostId }, { requestId: ctx.requestId });
  }
}
