/**
 * Applies what agents observe to PostgreSQL (see power-sync.ts for the decisions). Two inputs: the
 * server.<id>.state event, sent the moment QEMU changes (it reaches the database within
 * milliseconds), and each host's heartbeat (every second, every instance the agent tracks: the
 * periodic sync that repairs a lost event). The servers the database puts on the host that the
 * heartbeat leaves out are checked too (ghosts), and instances of deleted servers are destroyed
 * (a delete done while their host was down).
 *
 * Before any change of vm_state the agent is asked again (status), and the write is a
 * compare-and-set on the row version (xmin): a heartbeat built before a workflow's write must not
 * undo it. An autostart is the normal start path: task_state powering-on by compare-and-set, an
 * instance action with a system request id, a server.action job.
 */
import { Inject, Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { HostState, InstanceExit, PowerState, TaskState, VmState, jobId } from '@nubo/contracts';
import { recordAction } from '@nubo/database';
import { JobQueue } from '@nubo/jobs';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { SCHEDULER_CONFIG, SchedulerConfig } from '../config';
import { AgentClient } from '../workflows/agent-client';
import { ObservedPower, PowerSyncDecision, changesVmState, decidePowerSync, latencyMs } from './power-sync';

interface ServerRow {
  id: string;
  host_id: string | null;
  vm_state: VmState;
  task_state: TaskState | null;
  power_state: PowerState;
  deleted: boolean;
  version: string;
  project_id: string;
  user_id: string;
  host_state: HostState | null;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const VERIFY_TIMEOUT_MS = 3_000;
/** A deleted server's instance is destroyed at most this often. */
const REAP_EVERY_MS = 30_000;

const SELECT = `SELECT s.id, s.host_id, s.vm_state, s.task_state, s.power_state, s.deleted_at IS NOT NULL AS deleted,
       s.xmin::text AS version, s.project_id, s.user_id, h.state AS host_state
  FROM compute.servers s LEFT JOIN compute.hosts h ON h.id = s.host_id`;

@Injectable()
export class PowerSyncService implements OnModuleDestroy {
  private readonly logger = new Logger(PowerSyncService.name);
  /** Servers being verified with their agent now: one check per server at a time. */
  private readonly verifying = new Set<string>();
  private readonly reaped = new Map<string, number>();
  private queue?: JobQueue;

  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(AgentClient) private readonly agents: AgentClient,
    @Inject(SCHEDULER_CONFIG) private readonly config: SchedulerConfig,
  ) {}

  async onModuleDestroy(): Promise<void> {
    await this.queue?.close();
  }

  /** One observation (a server.state event). */
  async observe(hostId: string, serverId: string, observed: ObservedPower): Promise<void> {
    if (!UUID.test(serverId)) return;
    const rows: ServerRow[] = await this.db.query(`${SELECT} WHERE s.id = $1`, [serverId]);
    // A deleted server's instance is left to the heartbeats: its own destroy emits this event too.
    if (rows[0] && !rows[0].deleted) await this.sync(hostId, rows[0], observed);
  }

  /** A heartbeat: every instance the agent tracks, and the host's servers it does not list. */
  async syncHost(hostId: string, instances: Array<{ serverId: string } & ObservedPower>): Promise<void> {
    const listed = new Map(instances.filter((i) => UUID.test(i.serverId)).map((i) => [i.serverId, i]));
    const rows: ServerRow[] = await this.db.query(`${SELECT} WHERE s.id = ANY($1::uuid[]) OR (s.host_id = $2 AND s.deleted_at IS NULL)`, [
      [...listed.keys()],
      hostId,
    ]);
    await Promise.all(
      rows.map((row) => this.sync(hostId, row, listed.get(row.id) ?? { powerState: PowerState.NoState }).catch((error: Error) =>
        this.logger.warn(`power sync of server ${row.id} on ${hostId} failed: ${error.message}`),
      )),
    );
  }

  private async sync(hostId: string, row: ServerRow, observed: ObservedPower): Promise<void> {
    if (row.deleted) return this.reap(hostId, row.id, observed);
    // Another host's server (a late event, or a move): that host reports it.
    if (row.host_id !== hostId) return;
    const decision = this.decide(hostId, row, observed);
    if (!changesVmState(decision)) return this.apply(hostId, row, decision);
    if (this.verifying.has(row.id)) return;
    this.verifying.add(row.id);
    try {
      // Ask the agent now: the observation may predate an operation that has since finished.
      const status = await this.agents.status(hostId, row.id, { opId: `power-sync-${row.id}`, requestId: `req-${randomUUID()}`, timeoutMs: VERIFY_TIMEOUT_MS });
      const confirmed = { powerState: status.powerState, lastExit: status.lastExit };
      await this.apply(hostId, row, this.decide(hostId, row, confirmed), confirmed.lastExit);
    } catch (error) {
      this.logger.debug(`power sync of server ${row.id}: agent of ${hostId} did not confirm (${(error as Error).message}); next heartbeat`);
    } finally {
      this.verifying.delete(row.id);
    }
  }

  private decide(hostId: string, row: ServerRow, observed: ObservedPower): PowerSyncDecision {
    const server = { vmState: row.vm_state, taskState: row.task_state, powerState: row.power_state };
    return decidePowerSync(server, observed, { hostId, hostUp: row.host_state === HostState.Up, now: new Date() });
  }

  private async apply(hostId: string, row: ServerRow, d: PowerSyncDecision, lastExit?: InstanceExit): Promise<void> {
    if (d.kind === 'none') return;
    if (d.kind === 'record') {
      const result = await this.db.query(
        `UPDATE compute.servers SET power_state = $3, updated_at = now()
          WHERE id = $1 AND host_id = $2 AND deleted_at IS NULL AND power_state <> $3`,
        [row.id, hostId, d.powerState],
      );
      if (result[1] > 0) this.logger.log(`server ${row.id} on ${hostId}: power state ${d.powerState}`);
      return;
    }
    if (d.kind === 'autostart') return this.autostart(hostId, row, d);
    const ms = latencyMs(lastExit, new Date());
    const vmState = d.kind === 'error' ? VmState.Error : VmState.Stopped;
    const result = await this.db.query(
      `UPDATE compute.servers SET vm_state = $3, power_state = $4, fault = $5, updated_at = now()
        WHERE id = $1 AND host_id = $2 AND deleted_at IS NULL AND task_state IS NULL AND xmin::text = $6`,
      [row.id, hostId, vmState, d.powerState, d.fault, row.version],
    );
    if (result[1] !== 1) return;
    const after = ms === undefined ? '' : `, ${ms} ms after QEMU ended`;
    this.logger.log(`server ${row.id} on ${hostId}: ${row.vm_state} -> ${vmState} (${d.fault?.message ?? 'the guest powered off'})${after}`);
  }

  /** The normal start path, owned by a server.action job like an os-start. */
  private async autostart(hostId: string, row: ServerRow, d: Extract<PowerSyncDecision, { kind: 'autostart' }>): Promise<void> {
    const requestId = `req-${randomUUID()}`;
    const claimed = await this.db.transaction(async (tx) => {
      const result = await tx.query(
        `UPDATE compute.servers SET vm_state = $3, task_state = $4, power_state = $5, fault = $6, updated_at = now()
          WHERE id = $1 AND host_id = $2 AND deleted_at IS NULL AND vm_state = $7 AND task_state IS NULL AND xmin::text = $8`,
        [row.id, hostId, VmState.Stopped, TaskState.PoweringOn, d.powerState, d.fault, VmState.Active, row.version],
      );
      if (result[1] !== 1) return false;
      await recordAction(tx, { serverId: row.id, projectId: row.project_id, userId: row.user_id, action: 'start', requestId });
      return true;
    });
    if (!claimed) return;
    try {
      await this.jobs().enqueue('server.action', { serverId: row.id, requestId, action: 'start' }, { jobId: jobId('server.action', row.id, requestId) });
      this.logger.log(`server ${row.id} on ${hostId}: QEMU found dead after a restart; starting it again requestId=${requestId}`);
    } catch (error) {
      // Not queued: it stays SHUTOFF (with its fault) rather than owned by a job that never runs.
      await this.db.query(`UPDATE compute.servers SET task_state = NULL, updated_at = now() WHERE id = $1 AND task_state = $2`, [row.id, TaskState.PoweringOn]);
      this.logger.warn(`server ${row.id}: autostart not queued: ${(error as Error).message}`);
    }
  }

  /** An instance whose server is deleted (deleted while its host was down): destroy it there. */
  private reap(hostId: string, serverId: string, observed: ObservedPower): void {
    if (observed.powerState === PowerState.NoState) return;
    const last = this.reaped.get(serverId) ?? 0;
    if (Date.now() - last < REAP_EVERY_MS) return;
    this.reaped.set(serverId, Date.now());
    this.logger.warn(`server ${serverId} is deleted but still on ${hostId}: destroying it there`);
    void this.agents
      .destroy(hostId, serverId, { opId: `reap-${serverId}`, requestId: `req-${randomUUID()}` }, { deleteSharedDisks: true })
      .then(() => this.reaped.delete(serverId))
      .catch((error: Error) => this.logger.warn(`reaping server ${serverId} on ${hostId} failed: ${error.message}`));
  }

  private jobs(): JobQueue {
    this.queue ??= new JobQueue({ redisUrl: this.config.NUBO_REDIS_URL, prefix: `bull-${this.config.NUBO_CLOUD_NAME}` });
    return this.queue;
  }
}
