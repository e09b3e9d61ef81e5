import { HostState, KsmStats, PowerState, TaskState, VmState } from '@nubo/contracts';
import { Column, Entity, PrimaryColumn, VirtualColumn } from 'typeorm';
import { aggregateEntities, hostZoneSql } from './aggregates.entities';
import { tenantResourceEntities } from './tenant-resources.entities';

@Entity({ schema: 'compute', name: 'flavors' })
export class FlavorEntity {
  @PrimaryColumn('text') id!: string;
  @Column('text') name!: string;
  @Column('int') vcpus!: number;
  @Column('int', { name: 'ram_mb' }) ramMb!: number;
  @Column('int', { name: 'disk_gb' }) diskGb!: number;
  @Column('int', { name: 'ephemeral_gb', default: 0 }) ephemeralGb!: number;
  @Column('int', { name: 'swap_mb', default: 0 }) swapMb!: number;
  @Column('boolean', { name: 'is_public', default: true }) isPublic!: boolean;
  @Column('text', { default: '' }) description!: string;
  @Column('jsonb', { name: 'extra_specs', default: {} }) extraSpecs!: Record<string, string>;
  @Column('real', { name: 'rxtx_factor', default: 1 }) rxtxFactor!: number;
  @Column('timestamptz', { name: 'created_at', default: () => 'now()' }) createdAt!: Date;
}

@Entity({ schema: 'compute', name: 'hosts' })
export class HostEntity {
  @PrimaryColumn('text') id!: string;
  @Column('text') state!: HostState;
  @Column('text') accelerator!: string;
  @Column('int') vcpus!: number;
  @Column('int', { name: 'ram_mb' }) ramMb!: number;
  @Column('int', { name: 'disk_gb' }) diskGb!: number;
  @Column('real', { name: 'cpu_allocation_ratio', default: 4 }) cpuAllocationRatio!: number;
  @Column('real', { name: 'ram_allocation_ratio', default: 1 }) ramAllocationRatio!: number;
  @Column('real', { name: 'disk_allocation_ratio', default: 1 }) diskAllocationRatio!: number;
  /** Bumped by every claim: a claim made on stale data fails and retries. */
  @Column('bigint', { default: 0 }) generation!: string;
  /** What the host's allocations hold, kept by every claim and release (see the host-usage migration). */
  @Column('int', { name: 'used_vcpus', default: 0 }) usedVcpus!: number;
  @Column('int', { name: 'used_ram_mb', default: 0 }) usedRamMb!: number;
  @Column('int', { name: 'used_disk_gb', default: 0 }) usedDiskGb!: number;
  /** Consumers (servers, migrations) holding an allocation on the host. */
  @Column('int', { default: 0 }) instances!: number;
  /** Placement's reserved amounts: capacity = floor((total - reserved) * ratio). */
  @Column('int', { name: 'reserved_vcpus', default: 0 }) reservedVcpus!: number;
  @Column('int', { name: 'reserved_ram_mb', default: 0 }) reservedRamMb!: number;
  @Column('int', { name: 'reserved_disk_gb', default: 0 }) reservedDiskGb!: number;
  /** Builds that failed here since the last success; the weigher forgets them after a while. */
  @Column('int', { name: 'recent_failures', default: 0 }) recentFailures!: number;
  @Column('timestamptz', { name: 'last_failure_at', nullable: true }) lastFailureAt!: Date | null;
  @Column('text', { name: 'underlay_ip', nullable: true }) underlayIp!: string | null;
  @Column('timestamptz', { name: 'last_heartbeat_at' }) lastHeartbeatAt!: Date;
  @Column('timestamptz', { name: 'agent_started_at' }) agentStartedAt!: Date;
  /** KSM as the last heartbeat read it (contracts' KsmStats); null: the agent sent none. */
  @Column('jsonb', { nullable: true }) ksm!: KsmStats | null;
  @Column('timestamptz', { name: 'created_at', default: () => 'now()' }) createdAt!: Date;
}

@Entity({ schema: 'compute', name: 'servers' })
export class ServerEntity {
  @PrimaryColumn('uuid') id!: string;
  @Column('text', { name: 'project_id' }) projectId!: string;
  @Column('text', { name: 'user_id' }) userId!: string;
  @Column('text') name!: string;
  @Column('text', { name: 'flavor_id' }) flavorId!: string;
  /** Flavor as it was at create time (Nova embeds it the same way). */
  @Column('jsonb') flavor!: { vcpus: number; ramMb: number; diskGb: number; name: string; ephemeralGb?: number; extraSpecs?: Record<string, string> };
  @Column('text', { name: 'image_ref', nullable: true }) imageRef!: string | null;
  @Column('text', { name: 'vm_state' }) vmState!: VmState;
  @Column('text', { name: 'task_state', nullable: true }) taskState!: TaskState | null;
  @Column('text', { name: 'power_state' }) powerState!: PowerState;
  @Column('text', { name: 'host_id', nullable: true }) hostId!: string | null;
  @Column('jsonb', { nullable: true }) fault!: { code: number; message: string; created: string } | null;
  @Column('jsonb', { default: {} }) metadata!: Record<string, string>;
  @Column('text', { name: 'key_name', nullable: true }) keyName!: string | null;
  @Column('text', { name: 'request_id' }) requestId!: string;
  @Column('timestamptz', { name: 'created_at', default: () => 'now()' }) createdAt!: Date;
  @Column('timestamptz', { name: 'updated_at', default: () => 'now()' }) updatedAt!: Date;
  @Column('timestamptz', { name: 'launched_at', nullable: true }) launchedAt!: Date | null;
  @Column('timestamptz', { name: 'deleted_at', nullable: true }) deletedAt!: Date | null;
  /** The zone asked for at create (Nova's instance.availability_zone); null: any. */
  @Column('text', { name: 'availability_zone', nullable: true }) availabilityZone!: string | null;
  /** An admin's "zone:host" / "zone::node" (a node is a host in Nubo); null: the scheduler chooses. */
  @Column('text', { name: 'forced_host', nullable: true }) forcedHost!: string | null;
  /** Nova 2.19's description (null: none given). */
  @Column('text', { nullable: true }) description!: string | null;
  /** Nova 2.26's tags, sorted. */
  @Column('text', { array: true, default: () => "'{}'" }) tags!: string[];
  /** Read-only: the zone of the host the server is on (null: the default zone, or no host). */
  @VirtualColumn({ type: 'text', query: (alias) => hostZoneSql(`${alias}.host_id`) }) hostAvailabilityZone?: string | null;
}

/** What a consumer (a server; later a migration) holds on a host. */
@Entity({ schema: 'compute', name: 'allocations' })
export class AllocationEntity {
  @PrimaryColumn('uuid', { name: 'consumer_id' }) consumerId!: string;
  @PrimaryColumn('text', { name: 'host_id' }) hostId!: string;
  @Column('int') vcpus!: number;
  @Column('int', { name: 'ram_mb' }) ramMb!: number;
  @Column('int', { name: 'disk_gb' }) diskGb!: number;
  @Column('timestamptz', { name: 'created_at', default: () => 'now()' }) createdAt!: Date;
}

export const computeEntities = [FlavorEntity, HostEntity, ServerEntity, AllocationEntity, ...tenantResourceEntities, ...aggregateEntities];
