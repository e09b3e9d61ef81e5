/** Nova's os-interface: /compute/v2.1/servers/{server_id}/os-interface[/{port_id}]. */
import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post } from '@nestjs/common';
import { Auth, AuthContext, RequestId } from '../../common/auth-context';
import { parseInterfaceAttach } from './interface-attach.body';
import { ServerInterfacesService } from './server-interfaces.service';

@Controller('compute/v2.1/servers/:serverId/os-interface')
export class ServerInterfacesController {
  constructor(@Inject(ServerInterfacesService) private readonly interfaces: ServerInterfacesService) {}

  @Get()
  async list(@Param('serverId') serverId: string, @Auth() auth: AuthContext, @RequestId() requestId: string) {
    return { interfaceAttachments: await this.interfaces.list(serverId, auth, requestId) };
  }

  @Get(':portId')
  async show(@Param('serverId') serverId: string, @Param('portId') portId: string, @Auth() auth: AuthContext, @RequestId() requestId: string) {
    return { interfaceAttachment: await this.interfaces.show(serverId, portId, auth, requestId) };
  }

  @Post()
  @HttpCode(200)
  async attach(@Param('serverId') serverId: string, @Body() body: unknown, @Auth() auth: AuthContext, @RequestId() requestId: string) {
    const request = parseInterfaceAttach(body);
    return { interfaceAttachment: await this.interfaces.attach(serverId, request, auth, requestId) };
  }

  @Delete(':portId')
  @HttpCode(202)
  async detach(@Param('serverId') serverId: string, @Param('portId') portId: string, @Auth() auth: AuthContext, @RequestId() requestId: string): Promise<void> {
    await this.interfaces.detach(serverId, portId, auth, requestId);
  }
}
