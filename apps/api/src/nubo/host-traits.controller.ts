/** Nubo's admin API for host traits: GET and PUT /nubo/v1/hosts/{id}/traits. */
import { Body, Controller, Get, Inject, Param, Put } from '@nestjs/common';
import { ForbiddenError, NotFoundError } from '@nubo/contracts';
import { DataSource, EntityManager } from 'typeorm';
import { Auth, AuthContext } from '../common/auth-context';
import { loadTraits, parseTraitsBody, replaceAdminTraits } from './host-traits';

function requireAdmin(auth: AuthContext, rule: string): void {
  if (!auth.isAdmin) throw new ForbiddenError(`Policy does not allow ${rule} to be performed.`);
}

@Controller('nubo/v1/hosts')
export class HostTraitsController {
  constructor(@Inject(DataSource) private readonly db: DataSource) {}

  /** {"traits": [{"name", "source": "agent" | "admin"}]}, by name. */
  @Get(':id/traits')
  async list(@Param('id') id: string, @Auth() auth: AuthContext): Promise<unknown> {
    requireAdmin(auth, 'nubo:hosts:traits:list');
    await this.requireHost(this.db, id);
    return { traits: await loadTraits(this.db, id) };
  }

  /** Replaces the admin-set (CUSTOM_*) traits; answers like GET. */
  @Put(':id/traits')
  async replace(@Param('id') id: string, @Body() body: unknown, @Auth() auth: AuthContext): Promise<unknown> {
    requireAdmin(auth, 'nubo:hosts:traits:update');
    const traits = parseTraitsBody(body);
    return this.db.transaction(async (tx) => {
      await this.requireHost(tx, id);
      await replaceAdminTraits(tx, id, traits);
      return { traits: await loadTraits(tx, id) };
    });
  }

  private async requireHost(db: Pick<EntityManager, 'query'>, id: string): Promise<void> {
    const rows = await db.query(`SELECT 1 FROM compute.hosts WHERE id = $1`, [id]);
    if (!rows.length) throw new NotFoundError(`Host ${id} could not be found.`);
  }
}
