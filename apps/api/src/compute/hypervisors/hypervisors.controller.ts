/**
 * Nova os-hypervisors at microversion 2.1 (admin): one QEMU hypervisor per compute host, with an
 * integer id, hypervisor_hostname = host id, and usage from the host's allocations. From
 * microversion 2.28 cpu_info is an object, not a JSON string.
 */
import { Controller, Get, Inject, Param } from '@nestjs/common';
import { NotFoundError, UnsupportedError } from '@nubo/contracts';
import { DataSource } from 'typeorm';
import { Auth, AuthContext } from '../../common/auth-context';
import { ComputeVersion, atLeast } from '../microversion';
import { requireAdmin } from '../shared/nova-policy';
import { HostRow, loadHosts, serviceStatus } from './host-inventory';

/** QEMU 7.2 (Debian 12) in libvirt's encoding, major * 1e6 + minor * 1e3 + micro. */
const HYPERVISOR_VERSION = 7002000;

export function hypervisorBrief(h: HostRow, now: Date) {
  const s = serviceStatus(h, now);
  return { id: h.hypervisorId, hypervisor_hostname: h.id, state: s.state, status: s.status };
}

export function hypervisorDetail(h: HostRow, now: Date, version = '2.1') {
  const s = serviceStatus(h, now);
  const cpuInfo = { arch: 'x86_64', model: h.accelerator === 'kvm' ? 'host' : 'qemu64', vendor: 'unknown',
    topology: { cells: 1, sockets: 1, cores: h.vcpus, threads: 1 }, features: [] };
  return {
    ...hypervisorBrief(h, now),
    vcpus: h.vcpus,
    memory_mb: h.ramMb,
    local_gb: h.diskGb,
    vcpus_used: h.usedVcpus,
    memory_mb_used: h.usedRamMb,
    local_gb_used: h.usedDiskGb,
    hypervisor_type: 'QEMU',
    hypervisor_version: HYPERVISOR_VERSION,
    free_ram_mb: h.ramMb - h.usedRamMb,
    free_disk_gb: h.diskGb - h.usedDiskGb,
    current_workload: h.workload,
    running_vms: h.runningVms,
    // Before 2.28 cpu_info is a JSON string.
    cpu_info: atLeast(version, '2.28') ? cpuInfo : JSON.stringify(cpuInfo),
    disk_available_least: h.diskGb - h.usedDiskGb,
    host_ip: h.underlayIp,
    service: { host: h.id, id: h.hypervisorId, disabled_reason: s.disabledReason },
  };
}

@Controller('compute/v2.1/os-hypervisors')
export class HypervisorsController {
  constructor(@Inject(DataSource) private readonly db: DataSource) {}

  @Get()
  async list(@Auth() auth: AuthContext): Promise<unknown> {
    requireAdmin(auth, 'os_compute_api:os-hypervisors:list');
    const now = new Date();
    return { hypervisors: (await loadHosts(this.db)).map((h) => hypervisorBrief(h, now)) };
  }

  @Get('detail')
  async detail(@Auth() auth: AuthContext, @ComputeVersion() version: string): Promise<unknown> {
    requireAdmin(auth, 'os_compute_api:os-hypervisors:list-detail');
    const now = new Date();
    return { hypervisors: (await loadHosts(this.db)).map((h) => hypervisorDetail(h, now, version)) };
  }

  @Get('statistics')
  async statistics(@Auth() auth: AuthContext): Promise<unknown> {
    requireAdmin(auth, 'os_compute_api:os-hypervisors:statistics');
    const hosts = await loadHosts(this.db);
    const sum = (f: (h: HostRow) => number) => hosts.reduce((n, h) => n + f(h), 0);
    return {
      hypervisor_statistics: {
        count: hosts.length,
        vcpus: sum((h) => h.vcpus),
        memory_mb: sum((h) => h.ramMb),
        local_gb: sum((h) => h.diskGb),
        vcpus_used: sum((h) => h.usedVcpus),
        memory_mb_used: sum((h) => h.usedRamMb),
        local_gb_used: sum((h) => h.usedDiskGb),
        free_ram_mb: sum((h) => h.ramMb - h.usedRamMb),
        free_disk_gb: sum((h) => h.diskGb - h.usedDiskGb),
        current_workload: sum((h) => h.workload),
        running_vms: sum((h) => h.runningVms),
        disk_available_least: sum((h) => h.diskGb - h.usedDiskGb),
      },
    };
  }

  @Get(':id')
  async show(@Param('id') id: string, @Auth() auth: AuthContext, @ComputeVersion() version: string): Promise<unknown> {
    requireAdmin(auth, 'os_compute_api:os-hypervisors:show');
    return { hypervisor: hypervisorDetail(await this.byId(id), new Date(), version) };
  }

  /** Nubo keeps no host uptime; Nova answers 501 when its driver cannot tell either. */
  @Get(':id/uptime')
  async uptime(@Param('id') id: string, @Auth() auth: AuthContext): Promise<unknown> {
    requireAdmin(auth, 'os_compute_api:os-hypervisors:uptime');
    await this.byId(id);
    throw new UnsupportedError('hypervisor uptime');
  }

  @Get(':pattern/search')
  async search(@Param('pattern') pattern: string, @Auth() auth: AuthContext): Promise<unknown> {
    requireAdmin(auth, 'os_compute_api:os-hypervisors:search');
    const now = new Date();
    return { hypervisors: (await this.matching(pattern)).map((h) => hypervisorBrief(h, now)) };
  }

  @Get(':pattern/servers')
  async servers(@Param('pattern') pattern: string, @Auth() auth: AuthContext): Promise<unknown> {
    requireAdmin(auth, 'os_compute_api:os-hypervisors:servers');
    const now = new Date();
    const hosts = await this.matching(pattern);
    const rows: Array<{ id: string; host_id: string }> = await this.db.query(
      `SELECT id, host_id FROM compute.servers WHERE host_id = ANY($1::text[]) AND deleted_at IS NULL ORDER BY created_at, id`,
      [hosts.map((h) => h.id)],
    );
    return {
      hypervisors: hosts.map((h) => {
        const servers = rows.filter((r) => r.host_id === h.id).map((r) => ({ name: `nubo-${r.id}`, uuid: r.id }));
        return { ...hypervisorBrief(h, now), ...(servers.length ? { servers } : {}) };
      }),
    };
  }

  private async byId(id: string): Promise<HostRow> {
    const n = /^\d+$/.test(id) ? Number(id) : NaN;
    const [host] = Number.isSafeInteger(n) && n <= 0x7fffffff ? await loadHosts(this.db, { hypervisorId: n }) : [];
    if (!host) throw new NotFoundError(`Hypervisor with ID '${id}' could not be found.`);
    return host;
  }

  private async matching(pattern: string): Promise<HostRow[]> {
    const hosts = await loadHosts(this.db, { hostLike: pattern });
    if (!hosts.length) throw new NotFoundError(`No hypervisor matching '${pattern}' could be found.`);
    return hosts;
  }
}
