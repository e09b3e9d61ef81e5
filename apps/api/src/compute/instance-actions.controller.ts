/** Nova os-instance-actions: the action log of a server; step events for admins; from 2.21 also of a deleted server. */
import { Controller, Get, Inject, Param } from '@nestjs/common';
import { NotFoundError } from '@nubo/contracts';
import { DataSource } from 'typeorm';
import { Auth, AuthContext } from '../common/auth-context';
import { isUuid } from '../common/validation';
import { ComputeVersion, atLeast } from './microversion';
import { ServersService } from './servers.service';

const time = (d: Date | null) => (d ? new Date(d).toISOString().replace('Z', '') : null);

@Controller('compute/v2.1/servers/:serverId/os-instance-actions')
export class InstanceActionsController {
  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(ServersService) private readonly servers: ServersService,
  ) {}

  @Get()
  async list(@Param('serverId') serverId: string, @Auth() auth: AuthContext, @ComputeVersion() version: string): Promise<unknown> {
    const server = await this.serverOf(serverId, auth, version);
    const rows: Array<Record<string, any>> = await this.db.query(
      `SELECT * FROM compute.instance_actions WHERE server_id = $1 ORDER BY start_time DESC, id DESC`,
      [server.id],
    );
    return { instanceActions: rows.map((r) => this.view(r)) };
  }

  @Get(':requestId')
  async show(
    @Param('serverId') serverId: string,
    @Param('requestId') requestId: string,
    @Auth() auth: AuthContext,
    @ComputeVersion() version: string,
  ): Promise<unknown> {
    const server = await this.serverOf(serverId, auth, version);
    const [row]: Array<Record<string, any>> = await this.db.query(
      `SELECT * FROM compute.instance_actions WHERE server_id = $1 AND request_id = $2`,
      [server.id, requestId],
    );
    if (!row) throw new NotFoundError(`Action for request_id ${requestId} on instance ${serverId} not found`);
    const action: Record<string, unknown> = this.view(row);
    if (auth.isAdmin) {
      const events: Array<Record<string, any>> = await this.db.query(
        `SELECT * FROM compute.instance_action_events WHERE action_id = $1 ORDER BY start_time, id`,
        [row.id],
      );
      action.events = events.map((e) => ({
        event: e.event,
        start_time: time(e.start_time),
        finish_time: time(e.finish_time),
        result: e.result,
        traceback: e.details,
      }));
    }
    return { instanceAction: action };
  }

  /** The server, or from 2.21 a deleted one whose row remains (read_deleted='yes' in Nova). */
  private async serverOf(id: string, auth: AuthContext, version: string): Promise<{ id: string }> {
    if (!atLeast(version, '2.21')) return this.servers.get(id, auth);
    const [row]: Array<{ id: string; project_id: string }> = isUuid(id) ? await this.db.query(`SELECT id, project_id FROM compute.servers WHERE id = $1`, [id]) : [];
    if (!row || (row.project_id !== auth.projectId && !auth.isAdmin)) throw new NotFoundError(`Instance ${id} could not be found.`);
    return row;
  }

  private view(r: Record<string, any>) {
    return {
      action: r.action,
      instance_uuid: r.server_id,
      message: r.message,
      project_id: r.project_id,
      request_id: r.request_id,
      start_time: time(r.start_time),
      user_id: r.user_id,
    };
  }
}
