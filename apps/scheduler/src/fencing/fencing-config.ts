/** Fencing and automatic recovery settings (spread into schedulerSchema). */
import { env } from '@nubo/config';
import { FenceDriver, NoFenceDriver } from './fence-driver';
import { IpmiFenceDriver } from './ipmi-fence.driver';
import { NetnsFenceDriver } from './netns-fence.driver';

export const fencingSchema = {
  /**
   * How down hosts are powered off before their servers restart elsewhere: `netns` (the all-in-one
   * cloud: kill everything in the host's namespace), `ipmi` (ipmitool, NUBO_FENCE_IPMI_HOSTS), or
   * `none` (recovery waits for the lease to expire past the self-fence margin).
   */
  NUBO_FENCE_DRIVER: env.oneOf(['none', 'netns', 'ipmi'] as const, { default: 'none' }),
  /** The BMC table for `ipmi` (ipmi-fence.driver.ts). */
  NUBO_FENCE_IPMI_HOSTS: env.optionalString(),
  /** A down host is fenced once it has been down this long (hosts silent together are seen together). */
  NUBO_FAILOVER_SETTLE_MS: env.int({ default: 1_000, min: 0, max: 60_000 }),
  /** Hosts that went silent within this long of each other went silent "at once" (storm protection). */
  NUBO_FAILOVER_STORM_WINDOW_MS: env.int({ default: 60_000, min: 0, max: 3_600_000 }),
  /** More than this share of the hosts silent at once is a partition: nothing is fenced automatically. */
  NUBO_FAILOVER_STORM_PERCENT: env.int({ default: 50, min: 0, max: 100 }),
  /**
   * Without a confirmed fence, recover a host whose lease ended more than the self-fence margin
   * ago (the rule). Off by default: a frozen agent has killed nothing (design notes).
   */
  NUBO_FAILOVER_TRUST_LEASE_EXPIRY: env.oneOf(['on', 'off'] as const, { default: 'off' }),
  /** A fence that failed, or an evacuation without room, is tried again after this long. */
  NUBO_FAILOVER_RETRY_MS: env.int({ default: 10_000, min: 100, max: 600_000 }),
};

export function createFenceDriver(config: { NUBO_FENCE_DRIVER: 'none' | 'netns' | 'ipmi'; NUBO_FENCE_IPMI_HOSTS?: string }): FenceDriver {
  switch (config.NUBO_FENCE_DRIVER) {
    case 'netns':
      return new NetnsFenceDriver();
    case 'ipmi':
      if (!config.NUBO_FENCE_IPMI_HOSTS) throw new Error('NUBO_FENCE_DRIVER=ipmi needs NUBO_FENCE_IPMI_HOSTS');
      return IpmiFenceDriver.fromFile(config.NUBO_FENCE_IPMI_HOSTS);
    default:
      return new NoFenceDriver();
  }
}
