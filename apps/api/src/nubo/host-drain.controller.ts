/**
 * Host drain (admins): POST /nubo/v1/hosts/{id}/drain (202 with the report), GET the report,
 * POST /nubo/v1/hosts/{id}/undrain (200, the host's state after).
 */
import { Controller, Get, HttpCode, Inject, Param, Post } from '@nestjs/common';
import { Auth, AuthContext, RequestId } from '../common/auth-context';
import { HostDrainService } from './host-drain.service';

@Controller('nubo/v1/hosts')
export class HostDrainController {
  constructor(@Inject(HostDrainService) private readonly drains: HostDrainService) {}

  @Post(':id/drain')
  @HttpCode(202)
  drain(@Param('id') id: string, @Auth() auth: AuthContext, @RequestId() requestId: string): Promise<unknown> {
    return this.drains.drain(id, auth, requestId);
  }

  @Get(':id/drain')
  report(@Param('id') id: string, @Auth() auth: AuthContext): Promise<unknown> {
    return this.drains.report(id, auth);
  }

  @Post(':id/undrain')
  @HttpCode(200)
  undrain(@Param('id') id: string, @Auth() auth: AuthContext): Promise<unknown> {
    return this.drains.undrain(id, auth);
  }
}
