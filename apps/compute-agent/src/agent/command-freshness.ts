/**
 * Every command to an agent carries a deadline: core NATS may deliver a buffered request after a
 * reconnect and BullMQ re-runs stalled jobs, so a command past its deadline is refused rather
 * than acted on late.
 */
import { Logger } from '@nestjs/common';
import { AgentCommand, ValidationError } from '@nubo/contracts';
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
