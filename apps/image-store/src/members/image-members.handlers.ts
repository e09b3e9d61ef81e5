/** image.member.* handlers over NATS: Glance's image members. */
import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { ImageOps, subjects } from '@nubo/contracts';
import { RpcServer } from '@nubo/messaging';
import { ImageMembersService } from './image-members.service';

@Injectable()
export class ImageMembersHandlers implements OnModuleInit {
  constructor(
    @Inject(RpcServer) private readonly rpc: RpcServer,
    @Inject(ImageMembersService) private readonly members: ImageMembersService,
  ) {}

  onModuleInit(): void {
    const on = <K extends keyof typeof ImageOps>(op: K) => subjects.service('image', ImageOps[op].op);
    this.rpc.handle(on('memberList'), ImageOps.memberList, async ({ caller, imageId }) => ({ members: await this.members.list(caller, imageId) }));
    this.rpc.handle(on('memberGet'), ImageOps.memberGet, ({ caller, imageId, memberId }) => this.members.get(caller, imageId, memberId));
    this.rpc.handle(on('memberCreate'), ImageOps.memberCreate, ({ caller, imageId, body }) => this.members.create(caller, imageId, body));
    this.rpc.handle(on('memberUpdate'), ImageOps.memberUpdate, ({ caller, imageId, memberId, body }) => this.members.update(caller, imageId, memberId, body));
    this.rpc.handle(on('memberDelete'), ImageOps.memberDelete, async ({ caller, imageId, memberId }) => {
      await this.members.delete(caller, imageId, memberId);
      return { deleted: true as const };
    });
  }
}
