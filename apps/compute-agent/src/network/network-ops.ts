/**
 * The agent's network operation (agent.<hostId>.network.sync): the host's whole desired tenant
 * data plane from the network service, converged by NetworkSync. Shape checks here; values
 * (ids, MACs, addresses, rules) are validated by the links planner and the firewall compiler.
 */
import { Logger } from '@nestjs/common';
import { AgentNetworkOps, HostNetworkState, NetworkSyncReply, NetworkSyncRequest, ValidationError, subjects } from '@nubo/contracts';
import { HandlerContext } from '@nubo/messaging';
import { assertFresh } from '../agent/command-freshness';
import { RpcRegistrar } from '../agent/agent.service';
import { NetworkSync } from './network-sync';

export class NetworkOps {
  private readonly logger = new Logger(NetworkOps.name);

  constructor(
    private readonly hostId: string,
    private readonly network: Pick<NetworkSync, 'sync'>,
    private readonly now: () => number = Date.now,
  ) {}

  register(server: RpcRegistrar): string[] {
    const subject = subjects.agent(this.hostId, AgentNetworkOps.sync.op);
    server.handle(subject, AgentNetworkOps.sync, (req, ctx) => this.sync(req, ctx));
    return [AgentNetworkOps.sync.op];
  }

  private async sync(request: NetworkSyncRequest, ctx: HandlerContext): Promise<NetworkSyncReply> {
    assertFresh(request, AgentNetworkOps.sync.op, ctx, this.now(), this.logger);
    const state = checkState(request?.state);
    const reply = await this.network.sync(state);
    this.logger.log(
      `network sync opId=${request.opId}: ${state.networks.length} network(s), ${state.ports.length} port(s), ${reply.linkOps} link op(s)` +
        (reply.refusedNetworks.length ? `, refused ${reply.refusedNetworks.map((r) => r.networkId).join(' ')}` : '') +
        (reply.blockedPorts.length ? `, blocked ${reply.blockedPorts.map((p) => p.portId).join(' ')}` : ''),
    );
    return reply;
  }
}

function checkState(state: HostNetworkState | undefined): HostNetworkState {
  if (!state || !Array.isArray(state.networks)) throw new ValidationError('state.networks must be an array', 'state.networks');
  if (!Array.isArray(state.ports)) throw new ValidationError('state.ports must be an array', 'state.ports');
  state.networks.forEach((n, i) => {
    if (!Array.isArray(n?.peers)) throw new ValidationError(`state.networks[${i}].peers must be an array`, `state.networks[${i}].peers`);
  });
  state.ports.forEach((p, i) => {
    for (const key of ['fixedIps', 'allowedAddressPairs', 'rules'] as const) {
      if (!Array.isArray(p?.[key])) throw new ValidationError(`state.ports[${i}].${key} must be an array`, `state.ports[${i}].${key}`);
    }
  });
  return state;
}
