/** Nova's JSON for a server: status from vm_state and task_state, power state as Nova's integers. */
import { PowerState, TaskState, VmState } from '@nubo/contracts';
import { ServerEntity } from '@nubo/database';
import { createHash } from 'node:crypto';

const STATUS: Record<VmState, string> = {
  [VmState.Building]: 'BUILD',
  [VmState.Active]: 'ACTIVE',
  [VmState.Paused]: 'PAUSED',
  [VmState.Suspended]: 'SUSPENDED',
  [VmState.Stopped]: 'SHUTOFF',
  [VmState.Error]: 'ERROR',
  [VmState.Deleted]: 'DELETED',
};

const POWER: Record<PowerState, number> = {
  [PowerState.NoState]: 0,
  [PowerState.Running]: 1,
  [PowerState.Paused]: 3,
  [PowerState.Shutdown]: 4,
  [PowerState.Crashed]: 6,
  [PowerState.Suspended]: 7,
};

export function novaStatus(vmState: VmState, _taskState: TaskState | null): string {
  return STATUS[vmState] ?? 'UNKNOWN';
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

/** Nova's 202 body for a server create. */
export function createdServerView(baseUrl: string, id: string) {
  return { server: { id, links: serverLinks(baseUrl, id), 'OS-DCF:diskConfig': 'MANUAL', security_groups: [{ name: 'default' }] } };
}

export function serverView(s: ServerEntity, o: { baseUrl: string; isAdmin: boolean }) {
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
    addresses: {},
    accessIPv4: '',
    accessIPv6: '',
    links: serverLinks(o.baseUrl, s.id),
    'OS-DCF:diskConfig': 'MANUAL',
    progress: 0,
    'OS-EXT-AZ:availability_zone': 'nova',
    config_drive: '',
    key_name: s.keyName,
    'OS-SRV-USG:launched_at': s.launchedAt ? s.launchedAt.toISOString().replace('Z', '') : null,
    'OS-SRV-USG:terminated_at': s.deletedAt ? s.deletedAt.toISOString().replace('Z', '') : null,
    'OS-EXT-STS:task_state': s.taskState,
    'OS-EXT-STS:vm_state': s.vmState,
    'OS-EXT-STS:power_state': powerStateCode(s.powerState),
    'os-extended-volumes:volumes_attached': [],
    security_groups: [{ name: 'default' }],
  };
  if (s.fault && s.vmState === VmState.Error) view.fault = s.fault;
  if (o.isAdmin) {
    view['OS-EXT-SRV-ATTR:host'] = s.hostId;
    view['OS-EXT-SRV-ATTR:hypervisor_hostname'] = s.hostId;
    view['OS-EXT-SRV-ATTR:instance_name'] = `nubo-${s.id}`;
  }
  return view;
}
