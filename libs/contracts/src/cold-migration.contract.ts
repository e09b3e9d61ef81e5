/**
 * Cold migration (Nova's `migrate`), the agents' part: the disks of a powered-off guest copied
 * from the source host to the destination host (agent.<hostId>.server.cold-migration-*). The
 * scheduler drives them in this order (S = source agent, D = destination agent); the agents keep
 * no workflow:
 *
 *   1. S disks      which disks the instance has and their virtual sizes (a read)
 *   2. D prepare    empty target disks of those sizes (the root disk a qcow2 overlay on D's own
 *                   copy of the same base image), each exported by a qemu-nbd on D's underlay
 *                   address, on a port that accepts S's underlay address only
 *   3. S stop       the ordinary stop (AgentOps.stop): the guest powers off
 *   4. S transfer   qemu-img convert of each disk into its export (the root disk's top layer only)
 *   5. D finish     the exports close; the instance is D's, booted when `powerOn`
 *   on failure before 5 answered: D abort (exports, openings and target disks go), then S start.
 *
 * Safe to retry (idempotent per migrationId): disks, prepare (answers the same exports while
 * they run, else makes them afresh), transfer (copies again: the source is powered off, so a
 * second copy writes the same bytes), finish, abort. v1.
 */
import { InstanceSpec, InstanceStatus } from './compute.contract';
import { AgentCommand, rpc } from './rpc';

export interface ColdMigrationRef extends AgentCommand {
  serverId: string;
  migrationId: string;
}

/** The instance's disks a cold migration copies: its root disk (not an ISO) and its ephemeral disk. */
export type ColdDiskName = 'disk' | 'ephemeral';

export interface ColdDisk {
  name: ColdDiskName;
  /** Bytes the guest sees (the target is made exactly this size). */
  virtualSize: number;
}

export interface ColdDisksReply {
  disks: ColdDisk[];
  /** The base image the root disk is an overlay on (the destination must use the same bytes). */
  baseSha256?: string;
}

export interface ColdPrepareRequest extends ColdMigrationRef {
  /** The server's spec as the destination will run it (image URL fresh, NICs, shape). */
  spec: InstanceSpec;
  disks: ColdDisk[];
  baseSha256?: string;
  /** The source agent's underlay address: the only one allowed to connect. */
  sourceAddress: string;
  /** This host's underlay address, where qemu-nbd listens. */
  listenAddress: string;
}

export interface ColdExport {
  disk: ColdDiskName;
  port: number;
  /** The NBD export's name: random per prepare, so only who was told it can open the disk. */
  name: string;
}

export interface ColdPrepareReply {
  exports: ColdExport[];
}

export interface ColdTransferRequest extends ColdMigrationRef {
  destination: { address: string; exports: ColdExport[] };
}

export interface ColdTransferReply {
  /** Per disk, the seconds its copy took. */
  disks: Array<{ disk: ColdDiskName; seconds: number }>;
}

export interface ColdFinishRequest extends ColdMigrationRef {
  spec: InstanceSpec;
  /** Boot it (the server was ACTIVE); false: it stays powered off (it was SHUTOFF). */
  powerOn: boolean;
}

export const AgentColdMigrationOps = {
  disks: rpc<ColdMigrationRef, ColdDisksReply>('server.cold-migration-disks', { timeoutMs: 30_000 }),
  prepare: rpc<ColdPrepareRequest, ColdPrepareReply>('server.cold-migration-prepare', { timeoutMs: 600_000 }),
  transfer: rpc<ColdTransferRequest, ColdTransferReply>('server.cold-migration-transfer', { timeoutMs: 3_600_000 }),
  finish: rpc<ColdFinishRequest, InstanceStatus>('server.cold-migration-finish', { timeoutMs: 300_000 }),
  abort: rpc<ColdMigrationRef, { aborted: boolean }>('server.cold-migration-abort', { timeoutMs: 60_000 }),
};
