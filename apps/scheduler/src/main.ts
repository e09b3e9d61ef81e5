import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { QUEUE_GROUPS } from '@nubo/contracts';
import { logLevels } from '@nubo/config';
import { probe, startHealthServer } from '@nubo/health';
import { RpcServer } from '@nubo/messaging';
import { DataSource } from 'typeorm';
import { loadSchedulerConfig } from './config';
import { SchedulerModule } from './scheduler.module';

async function bootstrap(): Promise<void> {
  const config = loadSchedulerConfig();
  const rpcServer = new RpcServer({ url: config.NUBO_NATS_URL, name: 'nubo-scheduler', queue: QUEUE_GROUPS.scheduler });
  const app = await NestFactory.createMicroservice(SchedulerModule.register(config, rpcServer), {
    strategy: rpcServer,
    logger: logLevels(config.NUBO_LOG_LEVEL),
  });
  app.enableShutdownHooks();
  await app.listen();
  const db = app.get(DataSource);
  await startHealthServer({
    port: config.NUBO_HEALTH_PORT,
    service: 'scheduler',
    check: async () => ({ postgres: await probe(() => db.query('SELECT 1')) }),
  });
}

void bootstrap().catch((error: Error) => {
  process.stderr.write(`scheduler: ${error.stack ?? error.message}\n`);
  process.exit(1);
});
