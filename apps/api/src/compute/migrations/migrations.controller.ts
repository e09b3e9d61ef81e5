/**
 * Nova's migrations API (admins): GET /os-migrations (every migration: resizes and live
 * migrations; filters host, status, migration_type, instance_uuid) and the in-progress live
 * migrations of a server: list, show, force_complete (202), abort (DELETE, 202).
 */
import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Query } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { Auth, AuthContext } from '../../common/auth-context';
import { API_CONFIG, ApiConfig, publicUrl } from '../../config';
import { requireAdmin } from '../shared/nova-policy';
import { ComputeVersion, atLeast, requireVersion } from '../microversion';
import { ServersService } from '../servers.service';
import { parseForceComplete } from './live-migrate-request';
import { LiveMigrationService } from './live-migration.service';
import { MigrationRow, osMigrationView, serverMigrationView } from './migration-view';
import { listMigrations } from './migrations-query';

/** The calls on a server's migrations exist from these microversions (404 before, as in Nova). */
const FORCE_COMPLETE = '2.22';
const LIST_SHOW = '2.23';
const ABORT = '2.24';

@Controller('compute/v2.1')
export class MigrationsController {
  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(ServersService) private readonly servers: ServersService,
    @Inject(LiveMigrationService) private readonly live: LiveMigrationService,
    @Inject(API_CONFIG) private readonly config: ApiConfig,
  ) {}

  @Get('os-migrations')
  async index(@Auth() auth: AuthContext, @Query() query: Record<string, unknown>, @ComputeVersion() version: string): Promise<unknown> {
    requireAdmin(auth, 'os_compute_api:os-migrations:index');
    const rows: MigrationRow[] = await listMigrations(this.db, query);
    const o = { baseUrl: publicUrl(this.config), version23: atLeast(version, '2.23') };
    return { migrations: rows.map((m) => osMigrationView(m, o)) };
  }

  @Get('servers/:id/migrations')
  async list(@Param('id') id: string, @Auth() auth: AuthContext, @ComputeVersion() version: string): Promise<unknown> {
    requireVersion(version, LIST_SHOW);
    const server = await this.servers.get(id, auth);
    const migrations = await this.live.list(server, auth);
    const addresses = await this.addresses(migrations.map((m) => m.destHost));
    return { migrations: migrations.map((m) => serverMigrationView(m, addresses.get(m.destHost ?? '') ?? null)) };
  }

  @Get('servers/:id/migrations/:migrationId')
  async show(@Param('id') id: string, @Param('migrationId') migrationId: string, @Auth() auth: AuthContext, @ComputeVersion() version: string): Promise<unknown> {
    requireVersion(version, LIST_SHOW);
    const server = await this.servers.get(id, auth);
    const m = await this.live.get(server, migrationId, auth);
    const addresses = await this.addresses([m.destHost]);
    return { migration: serverMigrationView(m, addresses.get(m.destHost ?? '') ?? null) };
  }

  @Post('servers/:id/migrations/:migrationId/action')
  @HttpCode(202)
  async action(
    @Param('id') id: string,
    @Param('migrationId') migrationId: string,
    @Body() body: unknown,
    @Auth() auth: AuthContext,
    @ComputeVersion() version: string,
  ): Promise<void> {
    requireVersion(version, FORCE_COMPLETE);
    const server = await this.servers.get(id, auth);
    requireAdmin(auth, 'os_compute_api:servers:migrations:force_complete');
    parseForceComplete(body);
    await this.live.forceComplete(server, migrationId, auth);
  }

  @Delete('servers/:id/migrations/:migrationId')
  @HttpCode(202)
  async abort(@Param('id') id: string, @Param('migrationId') migrationId: string, @Auth() auth: AuthContext, @ComputeVersion() version: string): Promise<void> {
    requireVersion(version, ABORT);
    const server = await this.servers.get(id, auth);
    await this.live.abort(server, migrationId, auth, { queued: atLeast(version, '2.65') });
  }

  private async addresses(hosts: Array<string | null>): Promise<Map<string, string>> {
    const ids = hosts.filter((h): h is string => !!h);
    if (ids.length === 0) return new Map();
    const rows: Array<{ id: string; ip: string | null }> = await this.db.query(`SELECT id, split_part(underlay_ip, '/', 1) AS ip FROM compute.hosts WHERE id = ANY($1)`, [ids]);
    return new Map(rows.filter((r) => r.ip).map((r) => [r.id, r.ip!]));
  }
}
