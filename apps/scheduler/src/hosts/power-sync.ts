/**
 * What the control plane makes of a power state an agent observed: Nova's _sync_power_states,
 * told why QEMU ended. Pure: PowerSyncService reads the row, decides, asks the agent again before
 * any change of vm_state, and writes with a compare-and-set.
 *
 *   task in flight                       -> power_state only: the operation owns the server
 *   ACTIVE/PAUSED, QEMU gone, cause:
 *     guest-shutdown                     -> SHUTOFF, no fault (the guest powered off, as in Nova)
 *     guest-panic / crashed              -> ERROR with a fault
 *     unexpected, host-stop, unknown     -> SHUTOFF with a fault (nobody asked for the stop)
 *     found-dead, ACTIVE, host up        -> start it again (virsh autostart, Nova's
 *                                           resume_guests_state_on_host_boot)
 *     found-dead otherwise               -> SHUTOFF with a fault
 *   anything else                        -> power_state only
 */
import { InstanceExit, PowerState, TaskState, VmState } from '@nubo/contracts';

export interface SyncedServer {
  vmState: VmState;
  taskState: TaskState | null;
  powerState: PowerState;
}

export interface ObservedPower {
  powerState: PowerState;
  lastExit?: InstanceExit;
}

/** Nova's instance fault, as the servers API shows it. */
export interface NovaFault {
  code: number;
  message: string;
  created: string;
  /** Shown to admins only. */
  details?: string;
}

export type PowerSyncDecision =
  | { kind: 'none' }
  | { kind: 'record'; powerState: PowerState }
  | { kind: 'shutoff'; powerState: PowerState; fault: NovaFault | null }
  | { kind: 'error'; powerState: PowerState; fault: NovaFault }
  | { kind: 'autostart'; powerState: PowerState; fault: NovaFault };

export interface SyncContext {
  hostId: string;
  /** The reporting host is `up` (not fenced, disabled or in maintenance): only then is a server started again. */
  hostUp: boolean;
  now: Date;
}

/** Decisions that change vm_state: the agent is asked again before one is written. */
export const changesVmState = (d: PowerSyncDecision): d is Extract<PowerSyncDecision, { fault: unknown }> =>
  d.kind === 'shutoff' || d.kind === 'error' || d.kind === 'autostart';

/** Where QEMU should be running when no operation is in flight. */
const MEANT_TO_RUN = new Set<VmState>([VmState.Active, VmState.Paused]);
const GONE = new Set<PowerState>([PowerState.Shutdown, PowerState.NoState]);

export function decidePowerSync(server: SyncedServer, observed: ObservedPower, ctx: SyncContext): PowerSyncDecision {
  const { powerState, lastExit } = observed;
  const record = (): PowerSyncDecision => (server.powerState === powerState ? { kind: 'none' } : { kind: 'record', powerState });
  if (server.taskState !== null || !MEANT_TO_RUN.has(server.vmState)) return record();
  const fault = (message: string) => novaFault(message, ctx, lastExit);
  if (powerState === PowerState.Crashed) {
    return { kind: 'error', powerState, fault: fault(`Guest panicked (${lastExit?.detail ?? 'QEMU run state guest-panicked'})`) };
  }
  if (!GONE.has(powerState)) return record();
  if (powerState === PowerState.NoState) return { kind: 'shutoff', powerState, fault: fault('The instance is missing on its host') };
  switch (lastExit?.cause) {
    case 'guest-shutdown':
      return { kind: 'shutoff', powerState, fault: null };
    case 'guest-panic':
      return { kind: 'error', powerState, fault: fault(`Guest panicked (${lastExit.detail})`) };
    case 'unexpected':
      return { kind: 'shutoff', powerState, fault: fault(`QEMU exited unexpectedly: ${lastExit.detail}`) };
    case 'host-stop':
      return { kind: 'shutoff', powerState, fault: fault(`Stopped by its host: ${lastExit.detail}`) };
    case 'found-dead':
      if (server.vmState === VmState.Active && ctx.hostUp) {
        return { kind: 'autostart', powerState, fault: fault('QEMU was not running when its host came back; starting it again') };
      }
      return { kind: 'shutoff', powerState, fault: fault('QEMU was not running when its host came back') };
    default:
      return { kind: 'shutoff', powerState, fault: fault('QEMU is not running on its host') };
  }
}

/** A fault with code 500 (Nova's for compute failures); the host and raw cause go in admin-only details. */
export function novaFault(message: string, ctx: Pick<SyncContext, 'hostId' | 'now'>, lastExit?: InstanceExit): NovaFault {
  const cause = lastExit ? `; cause ${lastExit.cause}: ${lastExit.detail}; at ${lastExit.at}` : '';
  return { code: 500, message, created: ctx.now.toISOString(), details: `host ${ctx.hostId}${cause}` };
}

/** Milliseconds from the end of QEMU (as the agent saw it) to `now`, for the logs. */
export function latencyMs(lastExit: InstanceExit | undefined, now: Date): number | undefined {
  const at = lastExit ? Date.parse(lastExit.at) : NaN;
  return Number.isFinite(at) ? Math.max(0, now.getTime() - at) : undefined;
}
