import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { logLevels } from '@nubo/config';
import { QUEUE_GROUPS } from '@nubo/contracts';
import { probe, startHealthServer } from '@nubo/health';
import { RpcServer } from '@nubo/messaging';
import { DataSource } from 'typeorm';
import { loadImageConfig } from './config';
import { IMAGE_JOB_QUEUE, ImageJobQueue } from './conversion/image-jobs.token';
import { ImageStoreModule } from './image-store.module';

async function bootstrap(): Promise<void> {
  const config = loadImageConfig();
  const rpcServer = new RpcServer({ url: config.NUBO_NATS_URL, name: 'nubo-image-store', queue: QUEUE_GROUPS.image });
  const app = await NestFactory.createMicroservice(ImageStoreModule.register(config, rpcServer), {
    strategy: rpcServer,
    logger: logLevels(config.NUBO_LOG_LEVEL),
  });
  app.enableShutdownHooks();
  await app.listen();
  const db = app.get(DataSource);
  const jobs = app.get<ImageJobQueue>(IMAGE_JOB_QUEUE);
  await startHealthServer({
    port: config.NUBO_HEALTH_PORT,
    service: 'image-store',
    check: async () => ({ postgres: await probe(() => db.query('SELECT 1')), redis: await probe(() => jobs.ping()) }),
  });
}

void bootstrap().catch((error: Error) => {
  process.stderr.write(`image-store: ${error.stack ?? error.message}\n`);
  process.exit(1);
});
