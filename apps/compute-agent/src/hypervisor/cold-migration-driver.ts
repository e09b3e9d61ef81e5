/**
 * The cold-migration part of a hypervisor driver (optional: a driver without it answers
 * "unsupported"). The calls, their order and which may be retried: libs/contracts
 * cold-migration.contract.ts. Inputs arrive validated by the agent service.
 */
import { ColdDisk, ColdDisksReply, ColdExport, ColdPrepareReply, ColdTransferReply, InstanceSpec, InstanceStatus } from '@nubo/contracts';
import { MigrationIds } from './live-migration-driver';

export interface ColdPrepareInput extends MigrationIds {
  spec: InstanceSpec;
  disks: ColdDisk[];
  baseSha256?: string;
  sourceAddress: string;
  listenAddress: string;
}

export interface ColdTransferInput extends MigrationIds {
  destination: { address: string; exports: ColdExport[] };
  /** Epoch ms: a copy still running then is killed and the transfer fails. */
  deadline: number;
}

export interface ColdFinishInput extends MigrationIds {
  spec: InstanceSpec;
  powerOn: boolean;
}

export interface ColdMigrationDriver {
  /** Source. The disks to copy and their virtual sizes; none for a disk on shared storage. */
  disks(ids: MigrationIds): Promise<ColdDisksReply>;
  /** Destination. Idempotent per migrationId. */
  prepare(input: ColdPrepareInput): Promise<ColdPrepareReply>;
  /** Source. ConflictError while the guest runs. Copies again when called again. */
  transfer(input: ColdTransferInput): Promise<ColdTransferReply>;
  /** Destination. The migration's disks become the instance's; booted when `powerOn`. Idempotent. */
  finish(input: ColdFinishInput): Promise<InstanceStatus>;
  /** Destination. Idempotent; never touches an instance finish() took over. */
  abort(ids: MigrationIds): Promise<boolean>;
}
