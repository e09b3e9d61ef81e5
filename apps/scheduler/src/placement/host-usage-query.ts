/** Reads hosts with what their allocations use, as HostUsage rows: one query for every claim path. */
import { EntityManager } from 'typeorm';
import { HostUsage } from './host-ranking';

/** `extraWhere` narrows the hosts (its parameters follow the state at $1). */
export async function readHostUsage(tx: EntityManager, state: string, extraWhere = '', params: unknown[] = []): Promise<HostUsage[]> {
  const rows: Array<Record<string, string | number>> = await tx.query(
    `SELECT h.id, h.generation, h.vcpus, h.ram_mb, h.disk_gb, h.cpu_allocation_ratio, h.ram_allocation_ratio,
            h.disk_allocation_ratio, COALESCE(SUM(a.vcpus), 0) AS used_vcpus,
            COALESCE(SUM(a.ram_mb), 0) AS used_ram_mb, COALESCE(SUM(a.disk_gb), 0) AS used_disk_gb
       FROM compute.hosts h LEFT JOIN compute.allocations a ON a.host_id = h.id
      WHERE h.state = $1 ${extraWhere} GROUP BY h.id`,
    [state, ...params],
  );
  return rows.map((r) => ({
    id: String(r.id),
    generation: String(r.generation),
    vcpus: Number(r.vcpus),
    ramMb: Number(r.ram_mb),
    diskGb: Number(r.disk_gb),
    cpuAllocationRatio: Number(r.cpu_allocation_ratio),
    ramAllocationRatio: Number(r.ram_allocation_ratio),
    diskAllocationRatio: Number(r.disk_allocation_ratio),
    usedVcpus: Number(r.used_vcpus),
    usedRamMb: Number(r.used_ram_mb),
    usedDiskGb: Number(r.used_disk_gb),
  }));
}
