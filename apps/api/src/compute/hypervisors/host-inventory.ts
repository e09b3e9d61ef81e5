/**
 * Compute hosts as Nova's admin APIs show them (hypervisors, services, availability zones): one
 * row per host with what its allocations hold, and Nova's service state/status read off
 * hosts.state and the last heartbeat.
 */
import { HostState } from '@nubo/contracts';
import { hostZoneSql } from '@nubo/database';
import { EntityManager } from 'typeorm';

type Db = Pick<EntityManager, 'query'>;

/** Nova's default_availability_zone: the zone of a host that no aggregate puts in another. */
export const DEFAULT_ZONE = 'nova';

/** Nova's service_down_time: a host silent this long is down even if its row was not updated. */
export const SERVICE_DOWN_AFTER_MS = 60_000;

export interface HostRow {
  hypervisorId: number;
  id: string;
  state: string;
  accelerator: string;
  vcpus: number;
  ramMb: number;
  diskGb: number;
  underlayIp: string | null;
  lastHeartbeatAt: Date;
  disabledReason: string | null;
  /** Nova 2.11: an admin forced the service down. */
  forcedDown?: boolean;
  usedVcpus: number;
  usedRamMb: number;
  usedDiskGb: number;
  runningVms: number;
  /** Servers with an operation in flight (Nova's current_workload). */
  workload: number;
  /** The host's availability zone: its aggregates', else DEFAULT_ZONE. */
  zone: string;
}

export interface ServiceStatus {
  state: 'up' | 'down';
  status: 'enabled' | 'disabled';
  disabledReason: string | null;
}

const DISABLED = new Set<string>([HostState.Disabled, HostState.Maintenance, HostState.Fenced]);

export function serviceStatus(h: Pick<HostRow, 'state' | 'lastHeartbeatAt' | 'disabledReason'> & { forcedDown?: boolean }, now: Date): ServiceStatus {
  const fresh = now.getTime() - h.lastHeartbeatAt.getTime() < SERVICE_DOWN_AFTER_MS;
  const up = !h.forcedDown && (h.state === HostState.Up || ((h.state === HostState.Disabled || h.state === HostState.Maintenance) && fresh));
  const disabled = DISABLED.has(h.state);
  const reason = h.disabledReason ?? (h.state === HostState.Maintenance || h.state === HostState.Fenced ? h.state : null);
  return { state: up ? 'up' : 'down', status: disabled ? 'disabled' : 'enabled', disabledReason: disabled ? reason : null };
}

export async function loadHosts(db: Db, where: { hypervisorId?: number; hostId?: string; hostLike?: string } = {}): Promise<HostRow[]> {
  const conditions: string[] = [];
  const params: unknown[] = [];
  if (where.hypervisorId !== undefined) conditions.push(`n.hypervisor_id = $${params.push(where.hypervisorId)}`);
  if (where.hostId !== undefined) conditions.push(`h.id = $${params.push(where.hostId)}`);
  if (where.hostLike !== undefined) conditions.push(`h.id LIKE $${params.push(`%${where.hostLike.replace(/[\\%_]/g, '\\$&')}%`)}`);
  const rows: Array<Record<string, any>> = await db.query(
    `SELECT n.hypervisor_id, h.id, h.state, h.accelerator, h.vcpus, h.ram_mb, h.disk_gb, h.underlay_ip,
            h.last_heartbeat_at, h.disabled_reason, h.forced_down,
            COALESCE(a.vcpus, 0)::int AS used_vcpus, COALESCE(a.ram_mb, 0)::int AS used_ram_mb,
            COALESCE(a.disk_gb, 0)::int AS used_disk_gb,
            (SELECT count(*) FROM compute.servers s WHERE s.host_id = h.id AND s.deleted_at IS NULL)::int AS running_vms,
            (SELECT count(*) FROM compute.servers s WHERE s.host_id = h.id AND s.deleted_at IS NULL AND s.task_state IS NOT NULL)::int AS workload,
            COALESCE((${hostZoneSql('h.id')}), '${DEFAULT_ZONE}') AS zone
       FROM compute.hosts h
       JOIN compute.host_numbers n ON n.host_id = h.id
       LEFT JOIN (SELECT host_id, SUM(vcpus) AS vcpus, SUM(ram_mb) AS ram_mb, SUM(disk_gb) AS disk_gb
                    FROM compute.allocations GROUP BY host_id) a ON a.host_id = h.id
      ${conditions.length ? `WHERE ${conditions.join(' AND ')}` : ''}
      ORDER BY n.hypervisor_id`,
    params,
  );
  return rows.map((r) => ({
    hypervisorId: r.hypervisor_id,
    id: r.id,
    state: r.state,
    accelerator: r.accelerator,
    vcpus: r.vcpus,
    ramMb: r.ram_mb,
    diskGb: r.disk_gb,
    underlayIp: r.underlay_ip,
    lastHeartbeatAt: new Date(r.last_heartbeat_at),
    disabledReason: r.disabled_reason,
    forcedDown: r.forced_down === true,
    usedVcpus: r.used_vcpus,
    usedRamMb: r.used_ram_mb,
    usedDiskGb: r.used_disk_gb,
    runningVms: r.running_vms,
    workload: r.workload,
    zone: r.zone,
  }));
}
