/**
 * The compute agent: one per host. Boots Nest as a microservice on the agent's own NATS
 * strategy, serving agent.<hostId>.* once its instances are adopted.
 */
import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { logLevels } from '@nubo/config';
import { RpcServer } from '@nubo/messaging';
import { AgentModule } from './agent.module';
import { loadAgentConfigOrExit } from './config';
import { SimulatedAgentModule } from './simulation/simulated-agent.module';

async function bootstrap(): Promise<void> {
  const config = loadAgentConfigOrExit();
  const hostId = config.NUBO_HOST_ID;
  // Per-host subjects: no queue group, every agent serves only its own host id.
  const rpcServer = new RpcServer({ url: config.NUBO_NATS_URL, name: `nubo-agent-${hostId}` });
  // Scale tests: N fake hosts in this process (simulation/), else the one host this agent manages.
  const simulated = config.NUBO_AGENT_SIMULATED_HOSTS > 0;
  const module = simulated ? SimulatedAgentModule.forRoot({ config, rpcServer }) : AgentModule.forRoot({ config, rpcServer });
  const app = await NestFactory.createMicroservice(module, {
    strategy: rpcServer,
    logger: logLevels(config.NUBO_LOG_LEVEL),
  });
  app.enableShutdownHooks();
  await app.listen();
  const { capacity } = config;
  if (simulated) {
    new Logger('ComputeAgent').log(`agent ${hostId} up: ${config.NUBO_AGENT_SIMULATED_HOSTS} simulated hosts`);
    return;
  }
  new Logger('ComputeAgent').log(
    `agent ${hostId} up: driver=${config.NUBO_AGENT_DRIVER} netns=${config.NUBO_AGENT_NETNS ?? '-'} ` +
      `capacity=${capacity.vcpus} vcpus/${capacity.ramMb} MiB/${capacity.diskGb} GiB`,
  );
}

bootstrap().catch((error: Error) => {
  new Logger('ComputeAgent').error(`agent failed to start: ${error.stack ?? error.message}`);
  process.exit(1);
});
