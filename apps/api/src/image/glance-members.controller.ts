/**
 * Glance v2 image members (/image/v2/images/{id}/members): sharing a `shared` image with other
 * projects, answered by the image store over NATS. Create and update answer 200, delete 204, as
 * Glance does; past the member cap (128) Glance answers 413.
 */
import { Body, Controller, Delete, Get, HttpCode, HttpException, Inject, Param, Post, Put } from '@nestjs/common';
import { ImageCaller, ImageOps, subjects } from '@nubo/contracts';
import { RpcClient } from '@nubo/messaging';
import { Auth, AuthContext, RequestId } from '../common/auth-context';
import { memberListView, memberView } from './member-view';

const caller = (auth: AuthContext): ImageCaller => ({ projectId: auth.projectId, isAdmin: auth.isAdmin });
const on = <K extends keyof typeof ImageOps>(op: K) => subjects.service('image', ImageOps[op].op);

@Controller('image/v2/images/:id/members')
export class GlanceMembersController {
  constructor(@Inject(RpcClient) private readonly rpc: RpcClient) {}

  @Get()
  async list(@Param('id') id: string, @Auth() auth: AuthContext, @RequestId() requestId: string): Promise<unknown> {
    const reply = await this.rpc.call(on('memberList'), ImageOps.memberList, { caller: caller(auth), imageId: id }, { requestId });
    return memberListView(reply.members);
  }

  @Post()
  @HttpCode(200)
  async create(@Param('id') id: string, @Body() body: unknown, @Auth() auth: AuthContext, @RequestId() requestId: string): Promise<unknown> {
    // Over the member quota: QuotaExceededError, which the exception filter answers with Glance's 413.
    return memberView(await this.rpc.call(on('memberCreate'), ImageOps.memberCreate, { caller: caller(auth), imageId: id, body }, { requestId }));
  }

  @Get(':member')
  async show(@Param('id') id: string, @Param('member') member: string, @Auth() auth: AuthContext, @RequestId() requestId: string): Promise<unknown> {
    return memberView(await this.rpc.call(on('memberGet'), ImageOps.memberGet, { caller: caller(auth), imageId: id, memberId: member }, { requestId }));
  }

  @Put(':member')
  async update(
    @Param('id') id: string,
    @Param('member') member: string,
    @Body() body: unknown,
    @Auth() auth: AuthContext,
    @RequestId() requestId: string,
  ): Promise<unknown> {
    const record = await this.rpc.call(on('memberUpdate'), ImageOps.memberUpdate, { caller: caller(auth), imageId: id, memberId: member, body }, { requestId });
    return memberView(record);
  }

  @Delete(':member')
  @HttpCode(204)
  async remove(@Param('id') id: string, @Param('member') member: string, @Auth() auth: AuthContext, @RequestId() requestId: string): Promise<void> {
    await this.rpc.call(on('memberDelete'), ImageOps.memberDelete, { caller: caller(auth), imageId: id, memberId: member }, { requestId });
  }
}
