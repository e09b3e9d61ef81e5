import { env, infraSchema, loadConfigOrExit } from '@nubo/config';
import { schedulingSchema } from './placement/scheduling-config';
import { liveMigrationSchema } from './workflows/server-live-migrate-policy';
import { hostLivenessSchema } from './hosts/host-liveness-config';
import { failoverSchema } from './failover/failover-config';
import { fencingSchema } from './fencing/fencing-config';

export const schedulerSchema = {
  ...infraSchema,
  /** Filters, weighers and reschedule attempts (placement/scheduling-config.ts). */
  ...schedulingSchema,
  /** Live migration: poll, convergence policy, bandwidth, multifd (workflows/server-live-migrate-policy.ts). */
  ...liveMigrationSchema,
  /**
   * A host silent this long is marked down (and, failover on, fenced NUBO_FAILOVER_SETTLE_MS later):
   * 6 s so that HA servers run again within 10 s of a host's death (issue 9's aim).
   */
  NUBO_HOST_DOWN_AFTER_MS: env.int({ default: 6_000, min: 1_000 }),
  /** Host leases (hosts/host-liveness-config.ts: how the liveness numbers fit). */
  ...hostLivenessSchema,
  /** The failover controller's leadership and tick (failover/failover-config.ts). */
  ...failoverSchema,
  /** Fence drivers, storm protection, recovery retries (fencing/fencing-config.ts). */
  ...fencingSchema,
  NUBO_SCHEDULER_CONCURRENCY: env.int({ default: 16, min: 1, max: 256 }),
  /** How long loaded host candidates serve placement decisions (claims re-check capacity on the row). */
  NUBO_SCHEDULER_HOST_CACHE_MS: env.int({ default: 250, min: 0, max: 10_000 }),
  /** Nova's host_subset_size: a placement picks at random among the best N hosts. */
  NUBO_SCHEDULER_HOST_SUBSET_SIZE: env.int({ default: 1, min: 1, max: 1000 }),
  /** Claims one statement carries at most (claims decided while one runs go together in the next). */
  NUBO_SCHEDULER_CLAIM_BATCH: env.int({ default: 32, min: 1, max: 256 }),
  /**
   * Share of the hosts a decision looks for as feasible before it stops filtering (Kubernetes'
   * percentageOfNodesToScore); 0: adaptive (about 42% of 1000 hosts), 100: every host, always.
   */
  NUBO_SCHEDULER_HOSTS_TO_SCORE_PERCENT: env.int({ default: 0, min: 0, max: 100 }),
  /** Claim statements a scheduler runs at once. */
  NUBO_SCHEDULER_CLAIM_STATEMENTS: env.int({ default: 1, min: 1, max: 16 }),
  NUBO_HEALTH_PORT: env.port({ default: 8781 }),
  /** Seconds a guest gets to power off on ACPI (os-stop, soft reboot) before it is forced. */
  NUBO_STOP_GRACE_S: env.int({ default: 60, min: 0, max: 300 }),
  /** Signs the image download URLs handed to agents (shared with the image store). */
  NUBO_INTERNAL_SECRET: env.string({ pattern: /^.{32,}$/ }),
  /** The image store's HTTP base URL as agents reach it. */
  NUBO_IMAGE_INTERNAL_URL: env.url({ protocols: ['http:', 'https:'], default: 'http://127.0.0.1:8792' }),
};

export type SchedulerConfig = ReturnType<typeof loadSchedulerConfig>;
export const loadSchedulerConfig = () => loadConfigOrExit(schedulerSchema, 'scheduler');
export const SCHEDULER_CONFIG = Symbol('SCHEDULER_CONFIG');
