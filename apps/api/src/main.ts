import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { logLevels } from '@nubo/config';
import { NestExpressApplication } from '@nestjs/platform-express';
import { NextFunction, Request, Response, json, text } from 'express';
import { ApiModule } from './api.module';
import { malformedBodyHandler } from './common/malformed-body.handler';
import { loadApiConfig } from './config';
import { serveOpenApi } from './openapi';

async function bootstrap(): Promise<void> {
  const config = loadApiConfig();
  const app = await NestFactory.create<NestExpressApplication>(ApiModule.register(config), {
    logger: logLevels(config.NUBO_LOG_LEVEL),
    bodyParser: false,
  });
  // Our own JSON parser, so a malformed body becomes a ValidationError naming the body.
  // The XML import is read as text here, so the Idempotency-Key hash covers its body too.
  const xml = text({ type: (req) => /xml/i.test(String(req.headers['content-type'] ?? '')), limit: 64 * 1024 });
  app.use((req: Request, res: Response, next: NextFunction) => (req.path === '/nubo/v1/servers:import' ? xml(req, res, next) : next()));
  app.use(json({ limit: '1mb', type: (req) => /json/i.test(String(req.headers['content-type'] ?? 'application/json')) }), malformedBodyHandler);
  serveOpenApi(app);
  app.enableShutdownHooks();
  // Image uploads stream through the API and may take longer than Node's default 5-minute limit.
  app.getHttpServer().requestTimeout = 0;
  await app.listen(config.NUBO_API_PORT, config.NUBO_API_HOST);
}

void bootstrap().catch((error: Error) => {
  process.stderr.write(`api: ${error.stack ?? error.message}\n`);
  process.exit(1);
});
