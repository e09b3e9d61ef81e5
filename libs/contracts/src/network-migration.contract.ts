/**
 * Compute <-> network service during a live migration: the server's ports plumbed on the
 * destination host while they stay bound to the source, then moved in one transaction, or the
 * destination's copy dropped. Subjects `network.binding.migration-*` (the network service's queue
 * group). Every call is idempotent and answers once the hosts it changes have been pushed.
 * v1.
 *
 * The scheduler calls prepare before the destination QEMU starts (its taps and security rules
 * must exist first), then commit once the destination runs (binding_host_id moves: the source's
 * taps go, VXLAN peers and FDB entries of the other hosts follow), or abort on any failure before
 * that (the destination's taps and rules go; the source never changes).
 */
import { rpc } from './rpc';

export interface PortMigrationRequest {
  serverId: string;
  /** The host the server moves to. */
  destinationHostId: string;
}

export const NetworkMigrationOps = {
  /** The server's ports also plumbed on the destination (taps, rules); still bound to the source. */
  prepare: rpc<PortMigrationRequest, { ports: number }>('binding.migration-prepare', { timeoutMs: 90_000 }),
  /** binding_host_id := destination for every port of the server, in one transaction; hosts pushed. */
  commit: rpc<PortMigrationRequest, { ports: number }>('binding.migration-commit', { timeoutMs: 90_000 }),
  /** Drops the destination's copy (a no-op after commit or when nothing was prepared). */
  abort: rpc<PortMigrationRequest, { ports: number }>('binding.migration-abort', { timeoutMs: 90_000 }),
};
