/** BullMQ job contracts: queue and job names with their payloads. v1. */
export const QUEUES = { workflows: 'nubo-workflows' } as const;

export interface ServerJob {
  serverId: string;
  requestId: string;
}

/** Power actions, by Nova's instance-action names. */
export type ServerAction = 'stop' | 'start' | 'reboot' | 'pause' | 'unpause' | 'suspend' | 'resume';

export interface ServerActionJob extends ServerJob {
  action: ServerAction;
  rebootType?: 'SOFT' | 'HARD';
}

export interface JobPayloads {
  'server.create': ServerJob;
  'server.delete': ServerJob;
  'server.action': ServerActionJob;
}
export type JobName = keyof JobPayloads;
export const JOB_NAMES: JobName[] = ['server.create', 'server.delete', 'server.action'];

/**
 * Job ids make enqueueing idempotent: one create and one delete per server, one action job per
 * API request (the request id tells a retry of the job from a new request).
 */
export const jobId = (name: JobName, serverId: string, requestId?: string) =>
  requestId ? `${name}-${serverId}-${requestId}` : `${name}-${serverId}`;
