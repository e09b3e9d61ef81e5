/**
 * Nova os-services (admin): a nova-compute service per host, and the 2.1 enable/disable actions,
 * which set the host's state (disabled hosts get no new servers). 2.11: `forced_down` in the
 * view and PUT /os-services/force-down (the service shows down whatever its heartbeat says).
 */
import { Body, Controller, Get, Inject, Param, Put, Query } from '@nestjs/common';
import { HostState, NotFoundError, ValidationError } from '@nubo/contracts';
import { releaseHostFence, setHostStateReason } from '@nubo/database';
import { DataSource } from 'typeorm';
import { Auth, AuthContext } from '../../common/auth-context';
import { invalid, onlyKeys, optionalString, requireObject, requireString } from '../../common/validation';
import { booleanOf } from '../migrations/live-migrate-request';
import { ComputeVersion, atLeast } from '../microversion';
import { HostRow, loadHosts, serviceStatus } from '../hypervisors/host-inventory';
import { requireAdmin } from '../shared/nova-policy';
import { novaTime } from '../shared/nova-time';

export const COMPUTE_BINARY = 'nova-compute';

export function serviceView(h: HostRow, now: Date, version = '2.1') {
  const s = serviceStatus(h, now);
  const view: Record<string, unknown> = {
    id: h.hypervisorId,
    binary: COMPUTE_BINARY,
    host: h.id,
    zone: h.zone,
    status: s.status,
    state: s.state,
    updated_at: novaTime(h.lastHeartbeatAt),
    disabled_reason: s.disabledReason,
  };
  if (atLeast(version, '2.11')) view.forced_down = h.forcedDown ?? false;
  return view;
}

@Controller('compute/v2.1/os-services')
export class OsServicesController {
  constructor(@Inject(DataSource) private readonly db: DataSource) {}

  @Get()
  async list(@Auth() auth: AuthContext, @ComputeVersion() version: string, @Query('host') host?: string, @Query('binary') binary?: string): Promise<unknown> {
    requireAdmin(auth, 'os_compute_api:os-services:list');
    if (binary !== undefined && binary !== COMPUTE_BINARY) return { services: [] };
    const now = new Date();
    return { services: (await loadHosts(this.db, host === undefined ? {} : { hostId: host })).map((h) => serviceView(h, now, version)) };
  }

  /** PUT /os-services/enable | disable | disable-log-reason with {"host", "binary"[, "disabled_reason"]}. */
  @Put(':action')
  async update(@Param('action') action: string, @Body() body: unknown, @Auth() auth: AuthContext, @ComputeVersion() version: string): Promise<unknown> {
    requireAdmin(auth, 'os_compute_api:os-services:update');
    if (action === 'force-down' && atLeast(version, '2.11')) return this.forceDown(body);
    if (!['enable', 'disable', 'disable-log-reason'].includes(action)) throw new NotFoundError('Unknown action');
    const b = requireObject(body, 'body');
    onlyKeys(b, 'body', action === 'disable-log-reason' ? ['host', 'binary', 'disabled_reason'] : ['host', 'binary']);
    const host = requireString(b, 'host', { min: 1, max: 255 });
    const binary = requireString(b, 'binary', { min: 1, max: 255 });
    const reason = optionalString(b, 'disabled_reason', { min: 1, max: 255 });
    if (action === 'disable-log-reason' && reason === undefined) throw new ValidationError('Missing disabled reason field', 'disabled_reason');
    if (binary !== COMPUTE_BINARY || !(await loadHosts(this.db, { hostId: host })).length) {
      throw new NotFoundError(`Could not find binary ${binary} on host ${host}.`);
    }
    if (action === 'enable') {
      await this.db.transaction(async (tx) => {
        await setHostStateReason(tx, `enabled by user ${auth.userId} (os-services enable)`);
        await tx.query(`UPDATE compute.hosts SET state = $2, disabled_reason = NULL WHERE id = $1 AND state = $3`, [host, HostState.Up, HostState.Disabled]);
        // A host disabled after a fence may take a new lease epoch again.
        await releaseHostFence(tx, host);
      });
    } else {
      // Fenced and maintenance hosts keep their state; only the reason is recorded.
      await this.db.transaction(async (tx) => {
        await setHostStateReason(tx, `disabled by user ${auth.userId} (os-services ${action})${reason ? `: ${reason}` : ''}`);
        await tx.query(
          `UPDATE compute.hosts SET state = CASE WHEN state IN ($3, $4) THEN $2 ELSE state END, disabled_reason = $5 WHERE id = $1`,
          [host, HostState.Disabled, HostState.Up, HostState.Down, reason ?? null],
        );
      });
    }
    const [row] = await loadHosts(this.db, { hostId: host });
    const status = serviceStatus(row, new Date());
    return {
      service: { host, binary, status: status.status, ...(action === 'disable-log-reason' ? { disabled_reason: status.disabledReason } : {}) },
    };
  }

  /** PUT /os-services/force-down {"host", "binary", "forced_down"} (2.11). */
  private async forceDown(body: unknown): Promise<unknown> {
    const b = requireObject(body, 'body');
    onlyKeys(b, 'body', ['host', 'binary', 'forced_down']);
    const host = requireString(b, 'host', { min: 1, max: 255 });
    const binary = requireString(b, 'binary', { min: 1, max: 255 });
    if (!('forced_down' in b)) invalid('forced_down', undefined as never, `'forced_down' is a required property`);
    const forcedDown = booleanOf(b.forced_down, 'forced_down');
    if (binary !== COMPUTE_BINARY || !(await loadHosts(this.db, { hostId: host })).length) {
      throw new NotFoundError(`Could not find binary ${binary} on host ${host}.`);
    }
    await this.db.query(`UPDATE compute.hosts SET forced_down = $2 WHERE id = $1`, [host, forcedDown]);
    return { service: { host, binary, forced_down: forcedDown } };
  }
}
