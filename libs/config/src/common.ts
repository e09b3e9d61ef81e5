/** Settings every control-plane process shares. */
import { env } from './env-schema';

export const infraSchema = {
  NUBO_DATABASE_URL: env.url({ protocols: ['postgres:', 'postgresql:'] }),
  NUBO_REDIS_URL: env.url({ protocols: ['redis:'] }),
  NUBO_NATS_URL: env.url({ protocols: ['nats:'] }),
  /** Distinguishes clouds that share one Redis (BullMQ key prefix). */
  NUBO_CLOUD_NAME: env.string({ default: 'nubo', pattern: /^[a-z][a-z0-9-]{0,15}$/ }),
  NUBO_LOG_LEVEL: env.oneOf(['error', 'warn', 'log', 'debug', 'verbose'] as const, { default: 'log' }),
};

export const natsOnlySchema = {
  NUBO_NATS_URL: infraSchema.NUBO_NATS_URL,
  NUBO_CLOUD_NAME: infraSchema.NUBO_CLOUD_NAME,
  NUBO_LOG_LEVEL: infraSchema.NUBO_LOG_LEVEL,
};

export function logLevels(level: string): Array<'error' | 'warn' | 'log' | 'debug' | 'verbose'> {
  const order = ['error', 'warn', 'log', 'debug', 'verbose'] as const;
  return order.slice(0, order.indexOf(level as (typeof order)[number]) + 1);
}
