/**
 * Host leases: each agent holds a lease with an epoch (a fencing token) kept in PostgreSQL and
 * renewed through the scheduler (`scheduler.host.lease.renew`, queue group) at every heartbeat.
 * v1.
 *
 *   join    (no epoch)   a new agent process, or one that fenced itself: a new epoch, unless the
 *                        host is fenced (then `refused` until an admin enables the host again)
 *   renew   (epoch E)    `granted` while E is the lease's epoch and the lease has not expired;
 *                        otherwise `stale`: the agent fences itself and joins again
 *
 * The reply gives the lease as a duration, never a time: the agent measures it on its own
 * monotonic clock from the moment it SENT the request, so no two hosts' clocks are compared.
 */
import { ConflictError, TimeoutError } from './errors';
import { rpc } from './rpc';

export interface LeaseRenewRequest {
  hostId: string;
  /** Fixed at the agent's boot (the heartbeat's agentStartedAt). */
  agentStartedAt: string;
  /** The epoch the agent holds; absent: it asks to join. */
  epoch?: number;
  /** A join after the agent fenced itself: the epoch it lost, and why (for the host's history). */
  fencedEpoch?: number;
  fencedReason?: string;
}

export type LeaseRenewReply =
  | {
      status: 'granted';
      epoch: number;
      /** The lease runs this long from the moment the agent sent its request. */
      leaseMs: number;
      /** On a join: the servers the database puts on this host (an agent back from a fence keeps only these). */
      assignedServerIds?: string[];
    }
  | { status: 'stale'; reason: string }
  | { status: 'refused'; reason: string; assignedServerIds: string[] };

export const HostLeaseOps = {
  renew: rpc<LeaseRenewRequest, LeaseRenewReply>('host.lease.renew', { timeoutMs: 2_000 }),
};

/**
 * The agent renews with this margin before the lease ends in PostgreSQL: it kills its VMs at
 * most `leaseMs - LEASE_FENCE_MARGIN_MS` after sending its last successful renewal, so a live
 * agent has fenced itself at least this long before the control plane sees the lease expire.
 */
export const LEASE_FENCE_MARGIN_MS = 2_000;

/** Why an agent refused a command (ConflictError details.refusal; reaches callers over NATS). */
export enum CommandRefusal {
  /** The agent fenced itself or the control plane refused its join: it does nothing until it rejoins. */
  Fenced = 'agent-fenced',
  /** The command carries another epoch than the one the agent holds. */
  StaleEpoch = 'stale-epoch',
  /** The command would boot a server this host has no files for, without the host's current epoch. */
  NotOnHost = 'server-not-on-host',
}

/** A command refused by an agent that holds no lease, or by a lease check that failed. */
export class CommandRefusedError extends ConflictError {
  constructor(refusal: CommandRefusal, message: string, details: Record<string, unknown> = {}) {
    super(message, { ...details, refusal });
  }
}

/** The agent has not joined yet (it just started): answer later, like an agent that is not serving yet. */
export class AgentJoiningError extends TimeoutError {
  constructor(hostId: string) {
    super(`the agent of ${hostId} has not joined the control plane yet (no lease)`, { hostId, joining: true });
  }
}

/** True when `error` (as rebuilt from the wire) is an agent's refusal of this kind. */
export function isRefusal(error: unknown, refusal: CommandRefusal): boolean {
  return error instanceof ConflictError && (error.details as { refusal?: unknown }).refusal === refusal;
}
