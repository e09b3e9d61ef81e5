/** BullMQ job contracts: queue and job names with their payloads. v1. */
export const QUEUES = { workflows: 'nubo-workflows' } as const;

export interface ServerJob {
  serverId: string;
  requestId: string;
}

export interface JobPayloads {
  'server.create': ServerJob;
  'server.delete': ServerJob;
}
export type JobName = keyof JobPayloads;
export const JOB_NAMES: JobName[] = ['server.create', 'server.delete'];

/** Job ids make enqueueing idempotent: one create and one delete per server. */
export const jobId = (name: JobName, serverId: string) => `${name}-${serverId}`;
