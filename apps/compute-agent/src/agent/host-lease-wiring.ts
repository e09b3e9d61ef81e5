/**
 * Builds the agent's LeaseWatchdog from its settings: renewals over NATS to the schedulers'
 * queue group, the fence (SIGKILL to the host's QEMUs found in /proc; the fake driver's
 * instances are stopped at once) and the reaping of instances the control plane no longer puts
 * on this host (destroy; disks on shared storage stay).
 */
import { HostLeaseOps, PowerState, subjects } from '@nubo/contracts';
import { RpcClient } from '@nubo/messaging';
import { HypervisorDriver } from '../hypervisor/hypervisor-driver';
import { killHostQemus } from './host-self-fence';
import { LeaseWatchdog } from './lease-watchdog';

export interface HostLeaseWiring {
  hostId: string;
  agentStartedAt: Date;
  stateDir: string;
  fenceTimeoutMs: number;
  driver: HypervisorDriver;
  client: Pick<RpcClient, 'call'>;
}

export function createLeaseWatchdog(w: HostLeaseWiring): LeaseWatchdog {
  let sequence = 0;
  return new LeaseWatchdog({
    hostId: w.hostId,
    agentStartedAt: w.agentStartedAt.toISOString(),
    fenceTimeoutMs: w.fenceTimeoutMs,
    renew: (request) =>
      w.client.call(subjects.service('scheduler', HostLeaseOps.renew.op), HostLeaseOps.renew, request, { requestId: `lease-${w.hostId}-${++sequence}` }),
    killVms: async () => {
      if (w.driver.name === 'qemu') return killHostQemus(w.stateDir).length;
      const running = (await w.driver.list()).filter((i) => i.powerState === PowerState.Running || i.powerState === PowerState.Paused);
      await Promise.all(running.map((i) => w.driver.stop(i.serverId, { graceSeconds: 0 }).catch(() => undefined)));
      return running.length;
    },
    reap: async (keep) => {
      const stale = (await w.driver.list()).map((i) => i.serverId).filter((id) => !keep.has(id));
      for (const id of stale) await w.driver.destroy(id);
      return stale;
    },
  });
}
