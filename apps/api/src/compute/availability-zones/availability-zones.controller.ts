/**
 * Nova os-availability-zone (2.1): the zones of the compute hosts (aggregates' zones, else
 * "nova"), available while one of their hosts is enabled; the detail (admins) lists each
 * available zone's enabled hosts and services. Nova's internal zone (its control services) is
 * left out.
 */
import { Controller, Get, Inject } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { Auth, AuthContext } from '../../common/auth-context';
import { loadHosts } from '../hypervisors/host-inventory';
import { requireAdmin } from '../shared/nova-policy';
import { zoneDetail, zoneList } from './zones';

export { DEFAULT_ZONE } from './zones';

@Controller('compute/v2.1/os-availability-zone')
export class AvailabilityZonesController {
  constructor(@Inject(DataSource) private readonly db: DataSource) {}

  @Get()
  async list(): Promise<unknown> {
    return { availabilityZoneInfo: zoneList(await loadHosts(this.db), new Date()) };
  }

  @Get('detail')
  async detail(@Auth() auth: AuthContext): Promise<unknown> {
    requireAdmin(auth, 'os_compute_api:os-availability-zone:detail');
    return { availabilityZoneInfo: zoneDetail(await loadHosts(this.db), new Date()) };
  }
}
