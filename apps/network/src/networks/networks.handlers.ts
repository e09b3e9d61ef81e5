/** network.* handlers. The skeleton lists a project's networks (and shared ones); Neutron comes with issue #7. */
import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { HealthOps, NetworkOps, subjects } from '@nubo/contracts';
import { NetworkEntity } from '@nubo/database';
import { probe, runChecks } from '@nubo/health';
import { RpcServer } from '@nubo/messaging';
import { DataSource } from 'typeorm';

@Injectable()
export class NetworksHandlers implements OnModuleInit {
  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(RpcServer) private readonly rpc: RpcServer,
  ) {}

  onModuleInit(): void {
    this.rpc.handle(subjects.service('network', NetworkOps.list.op), NetworkOps.list, async ({ projectId }) => {
      const rows = await this.db
        .getRepository(NetworkEntity)
        .createQueryBuilder('n')
        .where('n.projectId = :projectId OR n.shared', { projectId })
        .orderBy('n.createdAt')
        .getMany();
      return { networks: rows.map((n) => ({ id: n.id, name: n.name, projectId: n.projectId, shared: n.shared })) };
    });
    this.rpc.handle(subjects.service('network', HealthOps.check.op), HealthOps.check, async () => ({
      service: 'network',
      ...(await runChecks(async () => ({ postgres: await probe(() => this.db.query('SELECT 1')) }))),
    }));
  }
}
