/**
 * server.action: one power action (stop, start, reboot, pause, unpause, suspend, resume) on the
 * server's host. The API set the task state; this job runs the agent operation and then writes
 * the new vm_state and power_state with a compare-and-set on that task state. A failure leaves
 * the server as it was (Nova's revert of task_state) with the error in the action's events.
 * An agent that does not answer is asked again while its host is up (AgentRetry). Success clears
 * the server's fault: the state it is in now is the one asked for (a HARD reboot out of ERROR).
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import { InstanceStatus, PowerState, ServerActionJob, TaskState, VmState } from '@nubo/contracts';
import { ServerEntity, withActionEvent } from '@nubo/database';
import { JobOutcome } from '@nubo/jobs';
import { Job } from 'bullmq';
import { DataSource } from 'typeorm';
import { SCHEDULER_CONFIG, SchedulerConfig } from '../config';
import { AgentClient } from './agent-client';
import { AgentRetry } from './agent-retry';
import { InstanceSpecBuilder } from './instance-spec.builder';

interface Outcome {
  task: TaskState;
  vmState: VmState;
}

const OUTCOMES: Record<ServerActionJob['action'], Outcome> = {
  stop: { task: TaskState.PoweringOff, vmState: VmState.Stopped },
  start: { task: TaskState.PoweringOn, vmState: VmState.Active },
  reboot: { task: TaskState.Rebooting, vmState: VmState.Active },
  pause: { task: TaskState.Pausing, vmState: VmState.Paused },
  unpause: { task: TaskState.Unpausing, vmState: VmState.Active },
  suspend: { task: TaskState.Suspending, vmState: VmState.Suspended },
  resume: { task: TaskState.Resuming, vmState: VmState.Active },
};

@Injectable()
export class ServerActionWorkflow {
  private readonly logger = new Logger(ServerActionWorkflow.name);

  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(AgentClient) private readonly agents: AgentClient,
    @Inject(InstanceSpecBuilder) private readonly specs: InstanceSpecBuilder,
    @Inject(SCHEDULER_CONFIG) private readonly config: SchedulerConfig,
    @Inject(AgentRetry) private readonly retry: AgentRetry,
  ) {}

  async run(data: ServerActionJob, job: Job<ServerActionJob>): Promise<JobOutcome> {
    const { serverId, requestId, action } = data;
    const task = action === 'reboot' && data.rebootType === 'HARD' ? TaskState.RebootingHard : OUTCOMES[action].task;
    const server = await this.db.getRepository(ServerEntity).findOneBy({ id: serverId });
    // Someone else owns the server now (deleted, or this job is a stale replay).
    if (!server || server.deletedAt || server.taskState !== task) return 'skipped';
    if (!server.hostId) {
      // Never placed (a build that found no host): nothing to act on; give the task state back.
      await this.clearTask(serverId, task);
      return 'failed';
    }
    const hostId = server.hostId;
    const ctx = { opId: String(job.id), requestId };

    let status: InstanceStatus;
    try {
      status = await withActionEvent(this.db, { serverId, requestId, event: `compute_${action}_instance`, host: hostId }, () =>
        this.retry.call(hostId, `${action} of ${serverId}`, () => this.perform(data, server, hostId, ctx)),
      );
    } catch (error) {
      await this.clearTask(serverId, task);
      this.logger.warn(`${action} of ${serverId} failed on ${hostId}: ${(error as Error).message}`);
      return 'failed';
    }
    const done = await this.db.query(
      `UPDATE compute.servers SET vm_state = $3, power_state = $4, task_state = NULL, fault = NULL, updated_at = now()
        WHERE id = $1 AND task_state = $2 AND deleted_at IS NULL`,
      [serverId, task, OUTCOMES[action].vmState, status.powerState ?? PowerState.NoState],
    );
    if (done[1] !== 1) return 'skipped';
    this.logger.log(`server ${serverId} ${action} done on ${hostId}: ${status.powerState} requestId=${requestId}`);
    return 'done';
  }

  private async clearTask(serverId: string, task: TaskState): Promise<void> {
    await this.db.query(`UPDATE compute.servers SET task_state = NULL, updated_at = now() WHERE id = $1 AND task_state = $2`, [serverId, task]);
  }

  private async perform(
    data: ServerActionJob,
    server: ServerEntity,
    hostId: string,
    ctx: { opId: string; requestId: string },
  ): Promise<InstanceStatus> {
    const grace = this.config.NUBO_STOP_GRACE_S;
    switch (data.action) {
      case 'stop':
        return this.agents.stop(hostId, server.id, grace, ctx);
      case 'start':
        return this.agents.start(hostId, await this.specs.build(server), ctx);
      case 'reboot':
        return this.agents.reboot(hostId, server.id, data.rebootType ?? 'SOFT', grace, ctx);
      case 'pause':
        return this.agents.simple('pause', hostId, server.id, ctx);
      case 'unpause':
        return this.agents.simple('unpause', hostId, server.id, ctx);
      case 'suspend':
        return this.agents.simple('suspend', hostId, server.id, ctx);
      case 'resume':
        return this.agents.resume(hostId, await this.specs.build(server), ctx);
    }
  }
}
