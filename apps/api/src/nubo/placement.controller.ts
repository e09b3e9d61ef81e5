/**
 * Why a server is where it is (/nubo/v1, admins only): every scheduling decision stored for it,
 * oldest first: per filter the hosts it removed and why, the weights of the best hosts, the host
 * chosen, and a spawn that failed there (the reason the next decision excluded that host).
 */
import { Controller, Get, Inject, Param } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { Auth, AuthContext } from '../common/auth-context';
import { requireAdmin } from '../compute/shared/nova-policy';
import { ServersService } from '../compute/servers.service';
import { DecisionRow, placementDecisionView } from './placement-views';

@Controller('nubo/v1/servers/:id/placement')
export class PlacementController {
  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(ServersService) private readonly servers: ServersService,
  ) {}

  /** 200 {"placement": {"decisions": [...]}}; 403 for non-admins (Nova's shape); 404 for an unknown server. */
  @Get()
  async show(@Param('id') id: string, @Auth() auth: AuthContext): Promise<unknown> {
    requireAdmin(auth, 'nubo:servers:placement:show');
    const server = await this.servers.get(id, auth);
    const rows: DecisionRow[] = await this.db.query(
      `SELECT attempt, request_id, host_id, explanation, failure, failed_at, created_at
         FROM compute.placement_decisions WHERE server_id = $1 ORDER BY id`,
      [server.id],
    );
    return { placement: { decisions: rows.map(placementDecisionView) } };
  }
}
