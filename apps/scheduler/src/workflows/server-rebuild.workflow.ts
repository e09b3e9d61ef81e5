/**
 * server.rebuild (Nova's rebuild): the API set task state `rebuilding` with the server's new image
 * (and name, metadata); this job has the server's agent recreate the root disk from that image (a
 * fresh overlay: nothing the guest wrote survives) and boot it, unless the server was stopped:
 * then it stays stopped (Nova since Queens). Same id, host, flavor and addresses.
 * Task states: rebuilding -> rebuild_spawning -> none.
 *
 * A failure puts the server in ERROR with a fault, as Nova does; rebuilding it again is the way
 * out. A job owns the task state only while its rebuild is the server's newest instance action,
 * so a replayed job never touches a later operation.
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import { NuboError, PowerState, ServerRebuildJob, TaskState, TimeoutError } from '@nubo/contracts';
import { ServerEntity, withActionEvent } from '@nubo/database';
import { JobOutcome } from '@nubo/jobs';
import { Job } from 'bullmq';
import { DataSource } from 'typeorm';
import { SCHEDULER_CONFIG, SchedulerConfig } from '../config';
import { AgentClient } from './agent-client';
import { InstanceSpecBuilder } from './instance-spec.builder';
import { rebuildOutcome } from './resize-steps';
import { ServerFaults } from './server-faults';

/** True while the rebuild of `requestId` is the server's newest action and its task runs. */
const OWNS_TASK_STATE = `
  s.id = $1 AND s.deleted_at IS NULL AND s.task_state = ANY($3)
  AND (SELECT a.request_id FROM compute.instance_actions a WHERE a.server_id = s.id ORDER BY a.id DESC LIMIT 1) = $2`;
const REBUILD_TASKS = [TaskState.Rebuilding, TaskState.RebuildSpawning];

@Injectable()
export class ServerRebuildWorkflow {
  private readonly logger = new Logger(ServerRebuildWorkflow.name);

  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(AgentClient) private readonly agents: AgentClient,
    @Inject(InstanceSpecBuilder) private readonly specs: InstanceSpecBuilder,
    @Inject(ServerFaults) private readonly faults: ServerFaults,
    @Inject(SCHEDULER_CONFIG) private readonly config: SchedulerConfig,
  ) {}

  async run(data: ServerRebuildJob, job: Job<ServerRebuildJob>): Promise<JobOutcome> {
    const { serverId, requestId } = data;
    const owned = await this.db.query(
      `UPDATE compute.servers s SET task_state = $4, updated_at = now() WHERE ${OWNS_TASK_STATE}`,
      [serverId, requestId, REBUILD_TASKS, TaskState.RebuildSpawning],
    );
    if (owned[1] !== 1) return 'skipped';
    const server = (await this.db.getRepository(ServerEntity).findOneBy({ id: serverId }))!;
    if (!server.hostId) return 'skipped';
    const hostId = server.hostId;
    // The vm_state is untouched until the end: it still says where the server was.
    const outcome = rebuildOutcome(server.vmState);
    const ctx = { opId: String(job.id), requestId };

    let powerState: PowerState;
    try {
      const spec = await this.specs.build(server, requestId);
      const options = { powerOn: outcome.powerOn, graceSeconds: this.config.NUBO_STOP_GRACE_S, preserveEphemeral: data.preserveEphemeral };
      const status = await withActionEvent(this.db, { serverId, requestId, event: 'compute_rebuild_instance', host: hostId }, () =>
        this.agents.rebuild(hostId, spec, options, ctx),
      );
      powerState = status.powerState;
    } catch (error) {
      // The agent may be restarting: the retry asks again (same operation id: no second new disk).
      if (error instanceof TimeoutError && job.attemptsMade + 1 < (job.opts.attempts ?? 1)) throw error;
      const message = error instanceof NuboError ? error.message : `rebuild failed: ${(error as Error).message}`;
      await this.faults.fail(serverId, message, { releaseClaims: false });
      return 'failed';
    }
    const done = await this.db.query(
      `UPDATE compute.servers SET vm_state = $3, power_state = $4, task_state = NULL, fault = NULL, launched_at = now(), updated_at = now()
        WHERE id = $1 AND task_state = $2 AND deleted_at IS NULL`,
      [serverId, TaskState.RebuildSpawning, outcome.vmState, powerState],
    );
    if (done[1] !== 1) return 'skipped';
    this.logger.log(`server ${serverId} rebuilt from image ${server.imageRef} on ${hostId}: ${powerState} requestId=${requestId}`);
    return 'done';
  }
}
