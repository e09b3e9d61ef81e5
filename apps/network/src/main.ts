import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { logLevels } from '@nubo/config';
import { QUEUE_GROUPS } from '@nubo/contracts';
import { probe, startHealthServer } from '@nubo/health';
import { RpcServer } from '@nubo/messaging';
import { DataSource } from 'typeorm';
import { loadNetworkConfig } from './config';
import { NetworkModule } from './network.module';

async function bootstrap(): Promise<void> {
  const config = loadNetworkConfig();
  const rpcServer = new RpcServer({ url: config.NUBO_NATS_URL, name: 'nubo-network', queue: QUEUE_GROUPS.network });
  const app = await NestFactory.createMicroservice(NetworkModule.register(config, rpcServer), {
    strategy: rpcServer,
    logger: logLevels(config.NUBO_LOG_LEVEL),
  });
  app.enableShutdownHooks();
  await app.listen();
  const db = app.get(DataSource);
  await startHealthServer({ port: config.NUBO_HEALTH_PORT, service: 'network', check: async () => ({ postgres: await probe(() => db.query('SELECT 1')) }) });
}

void bootstrap().catch((error: Error) => {
  process.stderr.write(`network: ${error.stack ?? error.message}\n`);
  process.exit(1);
});
