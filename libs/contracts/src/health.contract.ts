/** Every service answers `<service>.health` over NATS; the api aggregates them. */
import { rpc } from './rpc';

export interface HealthReply {
  service: string;
  status: 'ok' | 'degraded';
  checks: Record<string, 'ok' | string>;
}

export const HealthOps = {
  check: rpc<Record<string, never>, HealthReply>('health', { timeoutMs: 3_000 }),
};
