/**
 * Nova's evacuate, API side (admins only: os_compute_api:os-evacuate): the server's host must be
 * down ("Compute service of <host> is still in use." otherwise). One transaction writes the task
 * state `rebuilding`, the evacuation record (accepted) and the instance action (requestEvacuation,
 * shared with the scheduler's failover); then one `server.evacuate` job. Whatever fails before
 * the job is queued is taken back. Answers 200 {"adminPass"} before 2.14, 200 and no body from 2.14.
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import { TimeoutError, jobId } from '@nubo/contracts';
import { ServerEntity, abandonEvacuation, requestEvacuation } from '@nubo/database';
import { JobQueue } from '@nubo/jobs';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { AuthContext } from '../../common/auth-context';
import { requireAdmin } from '../shared/nova-policy';
import { EVACUATE_ACTION, parseEvacuate } from './evacuate-request';

@Injectable()
export class EvacuateService {
  private readonly logger = new Logger(EvacuateService.name);

  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(JobQueue) private readonly jobs: JobQueue,
  ) {}

  /** evacuate; undefined for any other action name. */
  async act(name: string, body: Record<string, unknown>, server: ServerEntity, auth: AuthContext, requestId: string, version = '2.1'): Promise<{ status: 200; body: unknown } | undefined> {
    if (name !== EVACUATE_ACTION) return undefined;
    // Nova validates the body before it asks the policy.
    const request = parseEvacuate(body, version);
    requireAdmin(auth, 'os_compute_api:os-evacuate');
    const { record } = await requestEvacuation(this.db, {
      id: randomUUID(),
      serverId: server.id,
      requestedHost: request.host,
      force: request.force,
      reason: `evacuate requested by ${auth.userId}`,
      userId: auth.userId,
      requestId,
    });
    try {
      await this.jobs.enqueue('server.evacuate', { serverId: server.id, requestId, migrationId: record.id }, { jobId: jobId('server.evacuate', server.id, record.id) });
    } catch (error) {
      await abandonEvacuation(this.db, record, `not queued: ${(error as Error).message}`);
      this.logger.error(`could not enqueue the evacuation of ${server.id}: ${(error as Error).message}`);
      throw new TimeoutError('The job queue is unavailable; the evacuation was not started. Try again.');
    }
    this.logger.log(`evacuation of server ${server.id} from ${record.sourceHost} queued migrationId=${record.id} requestId=${requestId}`);
    return { status: 200, body: request.adminPass === undefined ? undefined : { adminPass: request.adminPass } };
  }
}
