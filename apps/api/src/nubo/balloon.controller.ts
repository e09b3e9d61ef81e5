/**
 * A server's memory balloon (/nubo/v1, admins only; OpenStack has no call for it): its agent asks
 * QEMU over QMP (query-balloon, balloon). Setting a target answers 202: the guest's balloon
 * driver moves `actual_mb` toward it over the next seconds. 409 unless the server runs (a GET
 * also answers while it is paused).
 */
import { Body, Controller, Get, HttpCode, Inject, Param, Put } from '@nestjs/common';
import { AgentOps, BalloonReply, ConflictError, ServerRef, subjects } from '@nubo/contracts';
import { ServerEntity } from '@nubo/database';
import { RpcClient } from '@nubo/messaging';
import { Auth, AuthContext, RequestId } from '../common/auth-context';
import { requireAdmin } from '../compute/shared/nova-policy';
import { ServersService } from '../compute/servers.service';
import { balloonView, checkBalloonTarget, parseBalloonBody } from './memory-views';

const MiB = 2 ** 20;

@Controller('nubo/v1/servers/:id/balloon')
export class BalloonController {
  constructor(
    @Inject(ServersService) private readonly servers: ServersService,
    @Inject(RpcClient) private readonly rpc: RpcClient,
  ) {}

  @Get()
  async show(@Param('id') id: string, @Auth() auth: AuthContext, @RequestId() requestId: string): Promise<unknown> {
    requireAdmin(auth, 'nubo:servers:balloon:show');
    const server = await this.servers.get(id, auth);
    const op = AgentOps.balloonInfo;
    return balloonView(await this.rpc.call(subjects.agent(hostOf(server), op.op), op, this.ref(server, op.timeoutMs, requestId), { requestId }));
  }

  @Put()
  @HttpCode(202)
  async set(@Param('id') id: string, @Body() body: unknown, @Auth() auth: AuthContext, @RequestId() requestId: string): Promise<unknown> {
    requireAdmin(auth, 'nubo:servers:balloon:update');
    const wanted = parseBalloonBody(body);
    const server = await this.servers.get(id, auth);
    const targetMb = checkBalloonTarget(wanted, server.flavor.ramMb);
    const op = AgentOps.balloonSet;
    const request = { ...this.ref(server, op.timeoutMs, requestId), targetBytes: targetMb * MiB };
    const reply: BalloonReply = await this.rpc.call(subjects.agent(hostOf(server), op.op), op, request, { requestId });
    return balloonView(reply);
  }

  private ref(server: ServerEntity, timeoutMs: number, requestId: string): ServerRef {
    return { serverId: server.id, opId: `balloon-${requestId}`, deadline: Date.now() + timeoutMs };
  }
}

function hostOf(server: ServerEntity): string {
  if (!server.hostId) throw new ConflictError(`Instance ${server.id} is not on a host yet.`);
  return server.hostId;
}
