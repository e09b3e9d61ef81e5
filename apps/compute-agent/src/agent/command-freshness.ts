/**
 * Every command to an agent carries a deadline: core NATS may deliver a buffered request after a
 * reconnect and BullMQ re-runs stalled jobs, so a command past its deadline is refused rather
 * than acted on late. It may carry the host's lease epoch too (the fencing token): an agent acts
 * only while it holds a lease, and only on commands of its current epoch (lease-watchdog.ts).
 *
 *   lease      command epoch      answer
 *   joining    any                AgentJoiningError (a timeout: the caller asks again)
 *   fenced     any                refused: agent-fenced
 *   held E     none               accepted (callers without the database: api reads, network sync)
 *   held E     E                  accepted
 *   held E     other              refused: stale-epoch
 *   held E     start/resume of a server the host has no files for, without epoch E:
 *                                refused: server-not-on-host (it would boot a VM from nothing)
 */
import { Logger } from '@nestjs/common';
import { AgentCommand, AgentJoiningError, CommandRefusal, CommandRefusedError, NuboError, ValidationError } from '@nubo/contracts';
import { HandlerContext } from '@nubo/messaging';

export function assertFresh(request: AgentCommand | undefined, op: string, ctx: HandlerContext, now: number, logger: Logger): void {
  const deadline = request?.deadline;
  if (typeof deadline !== 'number' || !Number.isFinite(deadline)) {
    throw new ValidationError('deadline (epoch ms) is required', 'deadline');
  }
  if (now > deadline) {
    logger.warn(`refusing stale ${op} opId=${request?.opId} requestId=${ctx.requestId}: deadline passed`);
    throw new ValidationError('stale command: deadline passed', 'deadline');
  }
}

export type LeaseState = 'joining' | 'held' | 'fenced';

/** What the agent knows of its lease when a command arrives. */
export interface LeaseView {
  hostId: string;
  state: LeaseState;
  /** Set while `held`. */
  epoch?: number;
  /** Why the agent is fenced. */
  reason?: string;
}

/** Operations that boot a VM from the spec they carry when the host has no files for it. */
export const BOOTS_FROM_SPEC = new Set(['start', 'resume']);

/** The error the agent answers `command` with, or undefined to act on it. Pure. */
export function leaseRefusal(lease: LeaseView, command: Pick<AgentCommand, 'epoch'> | undefined, op: string): NuboError | undefined {
  const { hostId } = lease;
  if (lease.state === 'joining') return new AgentJoiningError(hostId);
  if (lease.state === 'fenced') {
    return new CommandRefusedError(
      CommandRefusal.Fenced,
      `${op} refused: the agent of ${hostId} is fenced (${lease.reason ?? 'no lease'}); it refuses every command until it rejoins with a new epoch`,
      { hostId },
    );
  }
  const epoch = command?.epoch;
  if (epoch === undefined) return undefined;
  if (typeof epoch !== 'number' || !Number.isSafeInteger(epoch) || epoch < 1) return new ValidationError('epoch must be a positive integer', 'epoch');
  if (epoch !== lease.epoch) {
    return new CommandRefusedError(CommandRefusal.StaleEpoch, `${op} refused: epoch ${epoch} is not the current epoch of ${hostId} (${lease.epoch})`, {
      hostId,
      epoch,
      agentEpoch: lease.epoch,
    });
  }
  return undefined;
}

/**
 * For a command that passed `leaseRefusal`: a start or resume of a server the host has no files
 * for (`known` false) boots it from nothing, which only a sender that knows the current epoch
 * (it read the lease after this host's last join) may ask for.
 */
export function assignmentRefusal(lease: LeaseView, command: Pick<AgentCommand, 'epoch'> | undefined, op: string, serverId: string, known: boolean): NuboError | undefined {
  if (!BOOTS_FROM_SPEC.has(op) || known || (command?.epoch !== undefined && command.epoch === lease.epoch)) return undefined;
  return new CommandRefusedError(
    CommandRefusal.NotOnHost,
    `${op} refused: ${lease.hostId} has no instance of server ${serverId}, and a command without the host's epoch may not boot one`,
    { hostId: lease.hostId, serverId },
  );
}
