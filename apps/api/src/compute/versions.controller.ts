import { Controller, Get, Inject } from '@nestjs/common';
import { Public } from '../common/auth-context';
import { API_CONFIG, ApiConfig, publicUrl } from '../config';
import { MAX_VERSION, MIN_VERSION } from './microversion';

@Controller('compute')
export class ComputeVersionsController {
  constructor(@Inject(API_CONFIG) private readonly config: ApiConfig) {}

  @Public()
  @Get()
  versions(): unknown {
    return { versions: [this.version()] };
  }

  @Public()
  @Get('v2.1')
  v21(): unknown {
    return { version: this.version() };
  }

  private version() {
    return {
      id: 'v2.1',
      status: 'CURRENT',
      version: MAX_VERSION,
      min_version: MIN_VERSION,
      updated: '2013-07-23T11:33:21Z',
      links: [{ rel: 'self', href: `${publicUrl(this.config)}/compute/v2.1/` }],
      'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.compute+json;version=2.1' }],
    };
  }
}
