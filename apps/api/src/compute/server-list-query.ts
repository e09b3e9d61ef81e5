/** GET /servers[/detail] query parameters, parsed into a SQL WHERE clause with bind values. */
import { VmState, ValidationError } from '@nubo/contracts';
import { isUuid } from '../common/validation';
import { atLeast } from './microversion';
import { tagFilters } from './server-tags';

const STATUS_TO_VM_STATE: Record<string, VmState> = {
  ACTIVE: VmState.Active,
  BUILD: VmState.Building,
  SHUTOFF: VmState.Stopped,
  PAUSED: VmState.Paused,
  SUSPENDED: VmState.Suspended,
  ERROR: VmState.Error,
  VERIFY_RESIZE: VmState.Resized,
};

export const MAX_LIMIT = 1000;

export interface ServerListQuery {
  where: string[];
  params: unknown[];
  limit: number;
  marker?: string;
}

const isTrue = (v: unknown) => v !== undefined && ['1', 'true', 'True', 'yes', ''].includes(String(v));

export function parseServerListQuery(
  q: Record<string, unknown>,
  auth: { projectId: string; isAdmin: boolean },
  version = '2.1',
): ServerListQuery {
  const where = ['s.deleted_at IS NULL'];
  const params: unknown[] = [];
  const bind = (value: unknown) => {
    params.push(value);
    return `$${params.length}`;
  };
  const one = (key: string): string | undefined => {
    const v = q[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'string') throw new ValidationError(`Invalid filter ${key}: give it once`, key);
    return v;
  };

  const allTenants = auth.isAdmin && isTrue(q.all_tenants);
  const project = one('project_id') ?? one('tenant_id');
  if (!allTenants) where.push(`s.project_id = ${bind(auth.projectId)}`);
  else if (project) where.push(`s.project_id = ${bind(project)}`);

  const name = one('name');
  if (name !== undefined) where.push(`s.name ~ ${bind(name)}`); // Nova matches names as a regex
  const status = one('status');
  if (status !== undefined) {
    const vmState = STATUS_TO_VM_STATE[status.toUpperCase()];
    if (!vmState) throw new ValidationError(`Invalid status value: ${status}`, 'status');
    where.push(`s.vm_state = ${bind(vmState)}`);
  }
  const host = one('host');
  if (host !== undefined && auth.isAdmin) where.push(`s.host_id = ${bind(host)}`);
  const flavor = one('flavor');
  if (flavor !== undefined) where.push(`s.flavor_id = ${bind(flavor)}`);
  const image = one('image');
  if (image !== undefined) where.push(`s.image_ref = ${bind(image)}`);
  const since = one('changes-since');
  if (since !== undefined) {
    if (Number.isNaN(Date.parse(since))) throw new ValidationError(`Invalid changes-since value: ${since}`, 'changes-since');
    where.push(`s.updated_at >= ${bind(new Date(since))}`);
  }

  if (atLeast(version, '2.26')) where.push(...tagFilters(one, bind));

  const rawLimit = one('limit');
  let limit = MAX_LIMIT;
  if (rawLimit !== undefined) {
    if (!/^\d+$/.test(rawLimit)) throw new ValidationError(`Invalid input for query parameters limit. Value: ${rawLimit}.`, 'limit');
    limit = Math.min(Number(rawLimit), MAX_LIMIT);
  }
  const marker = one('marker');
  if (marker !== undefined && !isUuid(marker)) throw new ValidationError(`marker [${marker}] not found`, 'marker');
  return { where, params, limit, marker };
}
