/**
 * Errors of the host data plane. Each names the operation that failed, so a log line or an RPC
 * error says which device and what iproute2 answered.
 *
 *   InternalError (@nubo/contracts)
 *   ├── LinkOpError        one planned operation failed (the ones before it were applied)
 *   └── LinkObserveError   reading the host's links or FDB failed
 */
import { InternalError } from '@nubo/contracts';
import { LinkOp } from './data-plane-types';
import { describeOp } from './link-commands';

export class LinkOpError extends InternalError {
  constructor(readonly op: LinkOp, reason: string, netns?: string) {
    super(`host data plane: ${describeOp(op)}${netns ? ` in netns ${netns}` : ''} failed: ${reason}`, { op, ...(netns ? { netns } : {}) });
  }
}

export class LinkObserveError extends InternalError {
  constructor(what: string, reason: string, netns?: string) {
    super(`host data plane: ${what}${netns ? ` in netns ${netns}` : ''} failed: ${reason}`, { ...(netns ? { netns } : {}) });
  }
}

/** The first line iproute2 wrote to stderr, else the error's message. */
export function commandFailure(error: unknown): string {
  const stderr = (error as { stderr?: unknown })?.stderr;
  const text = typeof stderr === 'string' && stderr.trim() ? stderr : error instanceof Error ? error.message : String(error);
  return text.trim().split('\n')[0];
}
