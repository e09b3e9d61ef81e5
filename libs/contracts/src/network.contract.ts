/** Network-service contracts (queue group `nubo-network`). v1: list networks. Neutron comes with issue #7. */
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
