/** Nova's JSON for a server: status from vm_state and task_state, power state as Nova's integers. */
import { PowerState, TaskState, VmState } from '@nubo/contracts';
import { ServerEntity } from '@nubo/database';
import { createHash } from 'node:crypto';
import { serverZone } from './availability-zones/zones';
import { atLeast } from './microversion';

const STATUS: Record<VmState, string> = {
  [VmState.Building]: 'BUILD',
  [VmState.Active]: 'ACTIVE',
  [VmState.Paused]: 'PAUSED',
  [VmState.Suspended]: 'SUSPENDED',
  [VmState.Stopped]: 'SHUTOFF',
  [VmState.Error]: 'ERROR',
  [VmState.Deleted]: 'DELETED',
  [VmState.Resized]: 'VERIFY_RESIZE',
};

const REBUILD = { [TaskState.Rebuilding]: 'REBUILD', [TaskState.RebuildSpawning]: 'REBUILD' };
const RESIZE = {
  [TaskState.ResizePrep]: 'RESIZE',
  [TaskState.ResizeMigrating]: 'RESIZE',
  [TaskState.ResizeMigrated]: 'RESIZE',
  [TaskState.ResizeFinish]: 'RESIZE',
};

const MIGRATING = { [TaskState.Migrating]: 'MIGRATING' };

/** Where a task state changes the status (Nova's _STATE_MAP), for rebuild, resize and live migration. */
const STATUS_BY_TASK: Partial<Record<VmState, Partial<Record<TaskState, string>>>> = {
  [VmState.Active]: { ...REBUILD, ...RESIZE, ...MIGRATING },
  [VmState.Paused]: MIGRATING,
  [VmState.Stopped]: { ...REBUILD, ...RESIZE },
  [VmState.Error]: REBUILD,
  [VmState.Resized]: { [TaskState.ResizeReverting]: 'REVERT_RESIZE' },
};

const POWER: Record<PowerState, number> = {
  [PowerState.NoState]: 0,
  [PowerState.Running]: 1,
  [PowerState.Paused]: 3,
  [PowerState.Shutdown]: 4,
  [PowerState.Crashed]: 6,
  [PowerState.Suspended]: 7,
};

export function novaStatus(vmState: VmState, taskState: TaskState | null): string {
  return (taskState ? STATUS_BY_TASK[vmState]?.[taskState] : undefined) ?? STATUS[vmState] ?? 'UNKNOWN';
}

export function powerStateCode(p: PowerState): number {
  return POWER[p] ?? 0;
}

/** Nova's hostId: an opaque per-project hash of the host, so tenants can tell co-location only. */
export function hostIdHash(projectId: string, hostId: string | null): string {
  return hostId ? createHash('sha224').update(projectId + hostId).digest('hex') : '';
}

const time = (d: Date | null) => (d ? d.toISOString().replace(/\.\d{3}Z$/, 'Z') : null);

export function serverLinks(baseUrl: string, id: string) {
  return [
    { rel: 'self', href: `${baseUrl}/compute/v2.1/servers/${id}` },
    { rel: 'bookmark', href: `${baseUrl}/compute/servers/${id}` },
  ];
}

/** Nova's 202 body for a server create: `security_groups` echoes the request's names (none: default). */
export function createdServerView(baseUrl: string, id: string, securityGroups?: ReadonlyArray<string>) {
  const groups = securityGroups?.length ? securityGroups.map((name) => ({ name })) : [{ name: 'default' }];
  return { server: { id, links: serverLinks(baseUrl, id), 'OS-DCF:diskConfig': 'MANUAL', security_groups: groups } };
}

export interface ServerViewOptions {
  baseUrl: string;
  isAdmin: boolean;
  addresses?: Record<string, unknown>;
  securityGroups?: Array<{ name: string }>;
  /** The negotiated microversion; absent: 2.1. */
  version?: string;
  /** Nova's host_status of the server's host (2.16, admins): UP, DOWN, MAINTENANCE, UNKNOWN or "". */
  hostStatus?: string;
}

/** Nova's instance hostname: the display name made DNS-safe (nova.utils.sanitize_hostname). */
export function sanitizeHostname(name: string): string {
  const h = name
    .toLowerCase()
    .replace(/[ _]/g, '-')
    .replace(/[^\w.-]+/g, '')
    .replace(/^[.-]+|[.-]+$/g, '')
    .slice(0, 63);
  return h || 'server';
}

/**
 * `addresses`: Nova's addresses of the server (servers/server-addresses.ts); absent: none.
 * `securityGroups`: the groups on its ports (security-groups/); none: no key, as in Nova.
 * Microversions: 2.3 more OS-EXT-SRV-ATTR (admins), 2.9 locked, 2.16 host_status (admins),
 * 2.19 description, 2.26 tags.
 */
export function serverView(s: ServerEntity, o: ServerViewOptions) {
  const version = o.version ?? '2.1';
  const view: Record<string, unknown> = {
    id: s.id,
    name: s.name,
    status: novaStatus(s.vmState, s.taskState),
    tenant_id: s.projectId,
    user_id: s.userId,
    metadata: s.metadata,
    hostId: hostIdHash(s.projectId, s.hostId),
    image: s.imageRef ? { id: s.imageRef, links: [{ rel: 'bookmark', href: `${o.baseUrl}/compute/images/${s.imageRef}` }] } : '',
    flavor: { id: s.flavorId, links: [{ rel: 'bookmark', href: `${o.baseUrl}/compute/flavors/${s.flavorId}` }] },
    created: time(s.createdAt),
    updated: time(s.updatedAt),
    addresses: o.addresses ?? {},
    accessIPv4: '',
    accessIPv6: '',
    links: serverLinks(o.baseUrl, s.id),
    'OS-DCF:diskConfig': 'MANUAL',
    progress: 0,
    'OS-EXT-AZ:availability_zone': serverZone(s),
    config_drive: '',
    key_name: s.keyName,
    'OS-SRV-USG:launched_at': s.launchedAt ? s.launchedAt.toISOString().replace('Z', '') : null,
    'OS-SRV-USG:terminated_at': s.deletedAt ? s.deletedAt.toISOString().replace('Z', '') : null,
    'OS-EXT-STS:task_state': s.taskState,
    'OS-EXT-STS:vm_state': s.vmState,
    'OS-EXT-STS:power_state': powerStateCode(s.powerState),
    'os-extended-volumes:volumes_attached': [],
  };
  if (o.securityGroups?.length) view.security_groups = o.securityGroups;
  const fault = faultView(s, o.isAdmin);
  if (fault) view.fault = fault;
  if (o.isAdmin) {
    view['OS-EXT-SRV-ATTR:host'] = s.hostId;
    view['OS-EXT-SRV-ATTR:hypervisor_hostname'] = s.hostId;
    view['OS-EXT-SRV-ATTR:instance_name'] = `nubo-${s.id}`;
    if (atLeast(version, '2.3')) {
      view['OS-EXT-SRV-ATTR:reservation_id'] = `r-${s.id.replace(/-/g, '').slice(0, 8)}`;
      view['OS-EXT-SRV-ATTR:launch_index'] = 0;
      view['OS-EXT-SRV-ATTR:hostname'] = sanitizeHostname(s.name);
      view['OS-EXT-SRV-ATTR:kernel_id'] = '';
      view['OS-EXT-SRV-ATTR:ramdisk_id'] = '';
      view['OS-EXT-SRV-ATTR:root_device_name'] = '/dev/vda';
      view['OS-EXT-SRV-ATTR:user_data'] = null;
    }
    if (atLeast(version, '2.16')) view.host_status = o.hostStatus ?? '';
  }
  Object.assign(view, versionedServerFields(s, version));
  return view;
}

/**
 * Nova shows a server's fault in ERROR; Nubo also in SHUTOFF, where a fault means nobody asked for
 * the stop (QEMU died, a host came back without it): any action that succeeds clears it, a guest
 * that powers itself off leaves none. `details` (host, raw cause) for admins only, as in Nova.
 */
export function faultView(s: Pick<ServerEntity, 'fault' | 'vmState'>, isAdmin: boolean): Record<string, unknown> | undefined {
  if (!s.fault || (s.vmState !== VmState.Error && s.vmState !== VmState.Stopped)) return undefined;
  const { details, ...shown } = s.fault as typeof s.fault & { details?: string };
  return isAdmin && details ? { ...shown, details } : shown;
}

/** The fields later microversions add to every server body (show, list, update, rebuild). */
export function versionedServerFields(s: Pick<ServerEntity, 'description' | 'tags'>, version: string): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  if (atLeast(version, '2.9')) fields.locked = false; // Nubo has no lock action: never locked
  if (atLeast(version, '2.19')) fields.description = s.description ?? null;
  if (atLeast(version, '2.26')) fields.tags = [...(s.tags ?? [])];
  return fields;
}
