import { Logger } from '@nestjs/common';
import { TaskState, TimeoutError } from '@nubo/contracts';
import { JobQueue } from '@nubo/jobs';
import { DataSource } from 'typeorm';
import { QueuedMove, enqueueMove } from './enqueue-move';

const move: QueuedMove = {
  job: 'server.live-migrate',
  what: 'live migration',
  serverId: 's1',
  migrationId: 'm1',
  requestId: 'req-1',
  taskState: TaskState.Migrating,
  recordStatus: 'queued',
};

function setup(enqueue: () => Promise<void>) {
  const statements: Array<[string, unknown[]]> = [];
  const tx = { query: jest.fn(async (sql: string, params: unknown[]) => statements.push([sql.replace(/\s+/g, ' '), params])) };
  const db = { transaction: jest.fn(async (fn: (t: typeof tx) => Promise<void>) => fn(tx)) } as unknown as DataSource;
  const jobs = { enqueue: jest.fn(enqueue) } as unknown as JobQueue;
  const logger = { error: jest.fn() } as unknown as Logger;
  return { statements, db, jobs, logger };
}

describe(enqueueMove.name, () => {
  it('queues the job under a job id of the server and the request, and undoes nothing', async () => {
    const { statements, db, jobs, logger } = setup(async () => undefined);
    await enqueueMove(db, jobs, logger, move);
    expect((jobs.enqueue as jest.Mock).mock.calls[0]).toEqual([
      'server.live-migrate',
      { serverId: 's1', requestId: 'req-1', migrationId: 'm1' },
      { jobId: expect.stringContaining('s1') },
    ]);
    expect(statements).toEqual([]);
  });

  it('puts the server and the record back when the queue refuses, and says to try again', async () => {
    const { statements, db, jobs, logger } = setup(async () => Promise.reject(new Error('redis down')));
    await expect(enqueueMove(db, jobs, logger, move)).rejects.toThrow(new TimeoutError('The job queue is unavailable; the live migration was not started. Try again.'));
    expect(statements.map(([sql, params]) => [sql.split(' SET ')[0], params])).toEqual([
      ['UPDATE compute.servers', ['s1', TaskState.Migrating]],
      ['UPDATE compute.migrations', ['m1', 'queued']],
    ]);
  });
});
