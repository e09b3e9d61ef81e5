/** GET /healthz: this process's dependencies and every service behind NATS. */
import { Controller, Get, Inject, Res } from '@nestjs/common';
import { HealthOps, subjects } from '@nubo/contracts';
import { probe, runChecks } from '@nubo/health';
import { JobQueue } from '@nubo/jobs';
import { RpcClient } from '@nubo/messaging';
import type { Response } from 'express';
import { DataSource } from 'typeorm';
import { Public } from '../common/auth-context';

@Controller()
export class HealthController {
  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(JobQueue) private readonly jobs: JobQueue,
    @Inject(RpcClient) private readonly rpc: RpcClient,
  ) {}

  @Public()
  @Get('healthz')
  async health(@Res() res: Response): Promise<void> {
    const service = (name: 'scheduler' | 'network' | 'image') =>
      probe(async () => {
        const reply = await this.rpc.call(subjects.service(name, HealthOps.check.op), HealthOps.check, {}, { requestId: 'health' });
        if (reply.status !== 'ok') throw new Error(JSON.stringify(reply.checks));
      }, 3_000);
    const result = await runChecks(async () => ({
      postgres: await probe(() => this.db.query('SELECT 1')),
      redis: await probe(() => this.jobs.ping()),
      scheduler: await service('scheduler'),
      network: await service('network'),
      'image-store': await service('image'),
    }));
    res.status(result.status === 'ok' ? 200 : 503).json({ service: 'api', ...result });
  }
}
