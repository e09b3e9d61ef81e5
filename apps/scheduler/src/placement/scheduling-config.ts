/**
 * The scheduler's filter and weigher settings (Nova's [filter_scheduler] options with Nova's
 * defaults) and the pipeline they make. The filters that say where a server may go at all (up,
 * zone, forced host) run first, so that when the hosts a server already failed on were the last
 * ones, RetryFilter is the one named; the failover reserve, which looks at whole aggregates, runs
 * last.
 */
import { env } from '@nubo/config';
import { AggregateInstanceExtraSpecsFilter } from './filters/aggregate-instance-extra-specs.host-filter';
import { AvailabilityZoneFilter } from './filters/availability-zone.host-filter';
import { ComputeStatusFilter } from './filters/compute-status.host-filter';
import { DiskFilter } from './filters/disk.host-filter';
import { ExcludedHostsFilter } from './filters/excluded-hosts.host-filter';
import { FailoverReserveFilter } from './filters/failover-reserve.host-filter';
import { ForcedHostFilter } from './filters/forced-host.host-filter';
import { ImagePropertiesFilter } from './filters/image-properties.host-filter';
import { MaxInstancesPerHostFilter } from './filters/max-instances-per-host.host-filter';
import { RamFilter } from './filters/ram.host-filter';
import { ServerGroupAffinityFilter } from './filters/server-group-affinity.host-filter';
import { ServerGroupAntiAffinityFilter } from './filters/server-group-anti-affinity.host-filter';
import { TraitsFilter } from './filters/traits.host-filter';
import { VcpuFilter } from './filters/vcpu.host-filter';
import { Pipeline } from './scheduling-pipeline';
import { BuildFailureWeigher } from './weighers/build-failure.weigher';
import { DiskWeigher } from './weighers/disk.weigher';
import { RamWeigher } from './weighers/ram.weigher';
import { SoftAffinityWeigher } from './weighers/soft-affinity.weigher';
import { SoftAntiAffinityWeigher } from './weighers/soft-anti-affinity.weigher';
import { VcpuWeigher } from './weighers/vcpu.weigher';

/** A finite decimal number (libs/config has integers only). */
export function envNumber(o: { default: number; min?: number }) {
  return {
    parse(raw: string | undefined, name: string): number {
      if (raw === undefined || raw === '') return o.default;
      const n = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(n)) throw new Error(`${name} must be a number, got "${raw}"`);
      if (o.min !== undefined && n < o.min) throw new Error(`${name} must be >= ${o.min}`);
      return n;
    },
  };
}

export const schedulingSchema = {
  /** Spawn attempts per server create, the first included (Nova's [scheduler] max_attempts). */
  NUBO_SCHEDULER_MAX_ATTEMPTS: env.int({ default: 3, min: 1, max: 20 }),
  /** Consumers (servers, migrations) per host (Nova's max_instances_per_host). */
  NUBO_SCHEDULER_MAX_INSTANCES_PER_HOST: env.int({ default: 50, min: 1 }),
  /** Positive spreads, negative packs (Nova's ram/cpu/disk_weight_multiplier). */
  NUBO_SCHEDULER_RAM_WEIGHT_MULTIPLIER: envNumber({ default: 1.0 }),
  NUBO_SCHEDULER_CPU_WEIGHT_MULTIPLIER: envNumber({ default: 1.0 }),
  NUBO_SCHEDULER_DISK_WEIGHT_MULTIPLIER: envNumber({ default: 1.0 }),
  NUBO_SCHEDULER_SOFT_AFFINITY_WEIGHT_MULTIPLIER: envNumber({ default: 1.0, min: 0 }),
  NUBO_SCHEDULER_SOFT_ANTI_AFFINITY_WEIGHT_MULTIPLIER: envNumber({ default: 1.0, min: 0 }),
  /** Positive; the weigher negates it (Nova's build_failure_weight_multiplier). */
  NUBO_SCHEDULER_BUILD_FAILURE_WEIGHT_MULTIPLIER: envNumber({ default: 1_000_000, min: 0 }),
};

export interface SchedulingSettings {
  NUBO_SCHEDULER_MAX_INSTANCES_PER_HOST: number;
  NUBO_SCHEDULER_RAM_WEIGHT_MULTIPLIER: number;
  NUBO_SCHEDULER_CPU_WEIGHT_MULTIPLIER: number;
  NUBO_SCHEDULER_DISK_WEIGHT_MULTIPLIER: number;
  NUBO_SCHEDULER_SOFT_AFFINITY_WEIGHT_MULTIPLIER: number;
  NUBO_SCHEDULER_SOFT_ANTI_AFFINITY_WEIGHT_MULTIPLIER: number;
  NUBO_SCHEDULER_BUILD_FAILURE_WEIGHT_MULTIPLIER: number;
}

/** Nova's defaults, for callers without a loaded config (benchmarks, tests). */
export const DEFAULT_SCHEDULING: SchedulingSettings = {
  NUBO_SCHEDULER_MAX_INSTANCES_PER_HOST: 50,
  NUBO_SCHEDULER_RAM_WEIGHT_MULTIPLIER: 1,
  NUBO_SCHEDULER_CPU_WEIGHT_MULTIPLIER: 1,
  NUBO_SCHEDULER_DISK_WEIGHT_MULTIPLIER: 1,
  NUBO_SCHEDULER_SOFT_AFFINITY_WEIGHT_MULTIPLIER: 1,
  NUBO_SCHEDULER_SOFT_ANTI_AFFINITY_WEIGHT_MULTIPLIER: 1,
  NUBO_SCHEDULER_BUILD_FAILURE_WEIGHT_MULTIPLIER: 1_000_000,
};

/** The filters and weighers, built once per process (filters keep per-decision caches keyed by request/context). */
export function buildPipeline(settings: SchedulingSettings = DEFAULT_SCHEDULING): Pipeline {
  return {
    filters: [
      new ComputeStatusFilter(),
      new AvailabilityZoneFilter(),
      new ForcedHostFilter(),
      new ExcludedHostsFilter(),
      new ImagePropertiesFilter(),
      new TraitsFilter(),
      new AggregateInstanceExtraSpecsFilter(),
      new RamFilter(),
      new VcpuFilter(),
      new DiskFilter(),
      new MaxInstancesPerHostFilter(settings.NUBO_SCHEDULER_MAX_INSTANCES_PER_HOST),
      new ServerGroupAntiAffinityFilter(),
      new ServerGroupAffinityFilter(),
      new FailoverReserveFilter(),
    ],
    weighers: [
      new RamWeigher(settings.NUBO_SCHEDULER_RAM_WEIGHT_MULTIPLIER),
      new VcpuWeigher(settings.NUBO_SCHEDULER_CPU_WEIGHT_MULTIPLIER),
      new DiskWeigher(settings.NUBO_SCHEDULER_DISK_WEIGHT_MULTIPLIER),
      new SoftAffinityWeigher(settings.NUBO_SCHEDULER_SOFT_AFFINITY_WEIGHT_MULTIPLIER),
      new SoftAntiAffinityWeigher(settings.NUBO_SCHEDULER_SOFT_ANTI_AFFINITY_WEIGHT_MULTIPLIER),
      new BuildFailureWeigher(settings.NUBO_SCHEDULER_BUILD_FAILURE_WEIGHT_MULTIPLIER),
    ],
  };
}
