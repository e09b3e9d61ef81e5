/**
 * Nova os-availability-zone (2.1): every host is in zone "nova". The zone is available while at
 * least one of its compute services is enabled; the detail (admins) lists hosts and services.
 */
import { Controller, Get, Inject } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { Auth, AuthContext } from '../../common/auth-context';
import { loadHosts, serviceStatus } from '../hypervisors/host-inventory';
import { COMPUTE_BINARY } from '../os-services/os-services.controller';
import { requireAdmin } from '../shared/nova-policy';
import { novaTime } from '../shared/nova-time';

export const DEFAULT_ZONE = 'nova';

@Controller('compute/v2.1/os-availability-zone')
export class AvailabilityZonesController {
  constructor(@Inject(DataSource) private readonly db: DataSource) {}

  @Get()
  async list(): Promise<unknown> {
    const available = await this.zoneAvailable();
    return { availabilityZoneInfo: available === null ? [] : [{ zoneName: DEFAULT_ZONE, zoneState: { available }, hosts: null }] };
  }

  @Get('detail')
  async detail(@Auth() auth: AuthContext): Promise<unknown> {
    requireAdmin(auth, 'os_compute_api:os-availability-zone:detail');
    const now = new Date();
    const rows = await loadHosts(this.db);
    if (!rows.length) return { availabilityZoneInfo: [] };
    const hosts: Record<string, unknown> = {};
    for (const h of rows) {
      const s = serviceStatus(h, now);
      hosts[h.id] = { [COMPUTE_BINARY]: { available: s.state === 'up', active: s.status === 'enabled', updated_at: novaTime(h.lastHeartbeatAt) } };
    }
    const available = rows.some((h) => serviceStatus(h, now).status === 'enabled');
    return { availabilityZoneInfo: [{ zoneName: DEFAULT_ZONE, zoneState: { available }, hosts }] };
  }

  /** null when there is no compute host at all (Nova then lists no zone). */
  private async zoneAvailable(): Promise<boolean | null> {
    const rows = await loadHosts(this.db);
    if (!rows.length) return null;
    const now = new Date();
    return rows.some((h) => serviceStatus(h, now).status === 'enabled');
  }
}
