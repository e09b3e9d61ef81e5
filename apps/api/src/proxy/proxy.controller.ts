/**
 * Neutron calls are authenticated here and answered by the network service over NATS. Its full
 * API comes with issue #7; the skeleton lists. Glance lives in ../image/glance.controller.ts.
 */
import { Controller, Get, Inject } from '@nestjs/common';
import { NetworkOps, subjects } from '@nubo/contracts';
import { RpcClient } from '@nubo/messaging';
import { Auth, AuthContext, Public, RequestId } from '../common/auth-context';
import { API_CONFIG, ApiConfig, publicUrl } from '../config';

@Controller()
export class ProxyController {
  constructor(
    @Inject(RpcClient) private readonly rpc: RpcClient,
    @Inject(API_CONFIG) private readonly config: ApiConfig,
  ) {}

  @Public()
  @Get('network')
  networkVersions(): unknown {
    return { versions: [{ id: 'v2.0', status: 'CURRENT', links: [{ rel: 'self', href: `${publicUrl(this.config)}/network/v2.0/` }] }] };
  }

  @Get('network/v2.0/networks')
  async networks(@Auth() auth: AuthContext, @RequestId() requestId: string): Promise<unknown> {
    const reply = await this.rpc.call(subjects.service('network', NetworkOps.list.op), NetworkOps.list, { projectId: auth.projectId }, { requestId });
    return {
      networks: reply.networks.map((n) => ({ id: n.id, name: n.name, tenant_id: n.projectId, project_id: n.projectId, shared: n.shared, status: 'ACTIVE' })),
    };
  }
}
