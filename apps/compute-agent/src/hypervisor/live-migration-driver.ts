/**
 * The live-migration part of a hypervisor driver (optional: a driver without it answers
 * "unsupported"). The calls, their order and which may be retried: libs/contracts
 * live-migration.contract.ts. Inputs arrive validated by the agent service.
 */
import {
  InstanceSpec,
  MigrationAdjustRequest,
  MigrationChannelOptions,
  MigrationNbdExport,
  MigrationParameters,
  MigrationPrepareReply,
  MigrationStatusReply,
} from '@nubo/contracts';

export interface MigrationIds {
  serverId: string;
  migrationId: string;
}

export interface PrepareIncoming extends MigrationIds {
  spec: InstanceSpec;
  sourceAddress: string;
  listenAddress: string;
  block: boolean;
  channels: MigrationChannelOptions;
}

export interface StartOutgoing extends MigrationIds {
  destination: { address: string; port: number; nbd?: { port: number; exports: MigrationNbdExport[] } };
  parameters: MigrationParameters;
  /** Epoch ms: the mirrors must be ready before it, or the start fails (and cleans up). */
  deadline: number;
}

export interface LiveMigrationDriver {
  /** Destination. Idempotent per migrationId. */
  prepare(input: PrepareIncoming): Promise<MigrationPrepareReply>;
  /** Source. Returns once `migrate` runs. */
  start(input: StartOutgoing): Promise<void>;
  /** Source. */
  status(ids: MigrationIds): Promise<MigrationStatusReply>;
  /** Source. */
  adjust(ids: MigrationIds, change: Pick<MigrationAdjustRequest, 'downtimeLimitMs' | 'startPostcopy'>): Promise<void>;
  /** Source. Idempotent; ConflictError in post-copy or once completed. */
  cancel(ids: MigrationIds): Promise<boolean>;
  /** Destination. Idempotent. */
  finish(ids: MigrationIds): Promise<void>;
  /** Destination. Idempotent; never touches an instance finish() took over. */
  abortDestination(ids: MigrationIds): Promise<boolean>;
  /** Source. Idempotent; no power-off is reported. */
  cleanupSource(ids: MigrationIds): Promise<boolean>;
  /** Source. MiB/s the guest dirties, measured over `seconds`. */
  dirtyRate(ids: MigrationIds, seconds: number): Promise<number>;
}
