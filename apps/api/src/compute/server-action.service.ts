/**
 * POST /servers/{id}/action: a compare-and-set on task_state (one operation per server at a
 * time; a conflicting request gets 409), an instance action, then a BullMQ job. Two actions go
 * their own way: os-getConsoleOutput asks the host at once (200 with the output), createImage
 * also makes the image (202 with its Location).
 */
import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { ConflictError, TimeoutError, jobId } from '@nubo/contracts';
import { ServerEntity, recordAction } from '@nubo/database';
import { JobQueue } from '@nubo/jobs';
import { DataSource } from 'typeorm';
import { AuthContext } from '../common/auth-context';
import { CONSOLE_OUTPUT_ACTION, CREATE_IMAGE_ACTION, actionName, parseAction, parseConsoleOutput, parseCreateImage } from './server-actions';
import { ServerConsoleService } from './server-console.service';
import { REBUILD_ACTION, parseRebuild } from './server-rebuild';
import { ServerRebuildService } from './server-rebuild.service';
import { ServerResizeService } from './server-resize.service';
import { ServerSnapshotService } from './server-snapshot.service';
import { ServersService } from './servers.service';
import { ServerSecurityGroupsService } from './security-groups/server-security-groups.service';
import { LiveMigrationService } from './migrations/live-migration.service';
import { ColdMigrationService } from './migrations/cold-migration.service';
import { EvacuateService } from './migrations/evacuate.service';
import { CRASH_DUMP_ACTION, parseCrashDump, triggerCrashDump } from './server-crash-dump';

/**
 * What the controller answers: 202 and nothing (power actions, resize, revertResize), 204 and
 * nothing (confirmResize), 200 with a body, 202 and a new image, or 202 and the rebuilt server.
 */
export type ActionResult =
  | { status: 202 }
  | { status: 204 }
  | { status: 200; body: unknown }
  | { status: 202; imageId: string }
  | { status: 202; server: ServerEntity; adminPass: string };

@Injectable()
export class ServerActionService {
  private readonly logger = new Logger(ServerActionService.name);

  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(JobQueue) private readonly jobs: JobQueue,
    @Inject(ServersService) private readonly servers: ServersService,
    @Inject(ServerConsoleService) private readonly console: ServerConsoleService,
    @Inject(ServerSnapshotService) private readonly snapshots: ServerSnapshotService,
    @Inject(ServerRebuildService) private readonly rebuilds: ServerRebuildService,
    @Inject(ServerResizeService) private readonly resizes: ServerResizeService,
    @Inject(ServerSecurityGroupsService) private readonly securityGroups: ServerSecurityGroupsService,
    @Inject(LiveMigrationService) private readonly liveMigrations: LiveMigrationService,
    @Inject(ColdMigrationService) private readonly coldMigrations: ColdMigrationService,
    @Optional() @Inject(EvacuateService) private readonly evacuations?: EvacuateService,
  ) {}

  async act(id: string, body: unknown, auth: AuthContext, requestId: string, version = '2.1'): Promise<ActionResult> {
    const server = await this.servers.get(id, auth);
    const name = actionName(body);
    const action = body as Record<string, unknown>;
    if (name === CONSOLE_OUTPUT_ACTION) {
      const { lines } = parseConsoleOutput(action);
      return { status: 200, body: { output: await this.console.output(server, lines, requestId) } };
    }
    if (name === CREATE_IMAGE_ACTION) {
      return { status: 202, imageId: await this.snapshots.createImage(server, parseCreateImage(action), auth, requestId) };
    }
    if (name === REBUILD_ACTION) return { status: 202, ...(await this.rebuilds.rebuild(server, parseRebuild(action, version), auth, requestId)) };
    const resize = await this.resizes.act(name, action, server, auth, requestId);
    if (resize) return resize;
    const groups = await this.securityGroups.act(name, action, server, auth, requestId);
    if (groups) return groups;
    const live = await this.liveMigrations.act(name, action, server, auth, requestId, version);
    if (live) return live;
    const cold = await this.coldMigrations.act(name, action, server, auth, requestId);
    if (cold) return cold;
    const evacuated = await this.evacuations?.act(name, action, server, auth, requestId, version);
    if (evacuated) return evacuated;
    if (name === CRASH_DUMP_ACTION) {
      parseCrashDump(action, version);
      await triggerCrashDump(this.db, server, { userId: auth.userId, requestId });
      return { status: 202 };
    }
    const rule = parseAction(body);
    const claimed = await this.db.transaction(async (tx) => {
      const result = await tx.query(
        `UPDATE compute.servers SET task_state = $2, updated_at = now()
          WHERE id = $1 AND deleted_at IS NULL AND task_state IS NULL AND vm_state = ANY($3)`,
        [server.id, rule.task, rule.from],
      );
      if (result[1] !== 1) return false;
      await recordAction(tx, { serverId: server.id, projectId: server.projectId, userId: auth.userId, action: rule.action, requestId });
      return true;
    });
    if (!claimed) {
      const now = await this.servers.get(id, auth);
      const why = now.taskState ? `task_state ${now.taskState}` : `vm_state ${now.vmState}`;
      throw new ConflictError(`Cannot '${rule.action}' instance ${id} while it is in ${why}`);
    }
    try {
      await this.jobs.enqueue(
        'server.action',
        { serverId: server.id, requestId, action: rule.action, rebootType: rule.rebootType },
        { jobId: jobId('server.action', server.id, requestId) },
      );
    } catch (error) {
      // Not queued: give the server back its idle task state so nothing is stuck.
      await this.db.query(`UPDATE compute.servers SET task_state = NULL WHERE id = $1 AND task_state = $2`, [server.id, rule.task]);
      this.logger.error(`could not enqueue ${rule.action} of ${server.id}: ${(error as Error).message}`);
      throw new TimeoutError('The job queue is unavailable; the action was not started. Try again.');
    }
    return { status: 202 };
  }
}
