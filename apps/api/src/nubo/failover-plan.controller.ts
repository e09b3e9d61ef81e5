/**
 * GET /nubo/v1/failover-plan (admins): for each host, where its HA servers (`nubo:ha=true` in the
 * flavor's extra specs or the server's metadata) would restart if it died now, in recovery order
 * (`nubo:ha_priority`, highest first), and whether there is room for all of them (the N+1 check).
 * The scheduler computes it with its own filters and weighers (failover-plan.service.ts).
 */
import { Controller, Get, Inject } from '@nestjs/common';
import { FailoverPlanOps, FailoverPlanReply, subjects } from '@nubo/contracts';
import { RpcClient } from '@nubo/messaging';
import { Auth, AuthContext, RequestId } from '../common/auth-context';
import { requireAdmin } from '../compute/shared/nova-policy';

export function failoverPlanView(reply: FailoverPlanReply) {
  return {
    hosts: reply.hosts.map((h) => ({
      host: h.host,
      state: h.state,
      capacity_ok: h.capacityOk,
      servers: h.servers.map((s) => ({ id: s.id, name: s.name, priority: s.priority, destination: s.destination, ...(s.reason ? { reason: s.reason } : {}) })),
    })),
  };
}

@Controller('nubo/v1/failover-plan')
export class FailoverPlanController {
  constructor(@Inject(RpcClient) private readonly rpc: RpcClient) {}

  @Get()
  async plan(@Auth() auth: AuthContext, @RequestId() requestId: string): Promise<unknown> {
    requireAdmin(auth, 'nubo:failover-plan');
    const reply = await this.rpc.call(subjects.service('scheduler', FailoverPlanOps.plan.op), FailoverPlanOps.plan, {}, { requestId });
    return failoverPlanView(reply);
  }
}
