/**
 * Neutron's version discovery. Its resources live in ../network (answered by the network service
 * over NATS); Glance lives in ../image/glance.controller.ts.
 */
import { Controller, Get, Inject } from '@nestjs/common';
import { Public } from '../common/auth-context';
import { API_CONFIG, ApiConfig, publicUrl } from '../config';

@Controller()
export class ProxyController {
  constructor(@Inject(API_CONFIG) private readonly config: ApiConfig) {}

  @Public()
  @Get('network')
  networkVersions(): unknown {
    return { versions: [{ id: 'v2.0', status: 'CURRENT', links: [{ rel: 'self', href: `${publicUrl(this.config)}/network/v2.0/` }] }] };
  }
}
