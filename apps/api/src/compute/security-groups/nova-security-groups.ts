/**
 * Nova's view of Neutron security groups (Nova 2.1 proxies them): the `security_groups` of a
 * server create, the bodies of addSecurityGroup / removeSecurityGroup, name-or-id lookup in a
 * project (neutronclient's find_resourceid_by_name_or_id: an id first, then a unique name), the
 * os-security-groups shape of a group (ingress rules only) and the `security_groups` of server
 * views (the groups on the server's ports). Pure.
 */
import { NeutronResource, ValidationError } from '@nubo/contracts';
import { invalid, onlyKeys, requireObject } from '../../common/validation';

export const ADD_SECURITY_GROUP_ACTION = 'addSecurityGroup';
export const REMOVE_SECURITY_GROUP_ACTION = 'removeSecurityGroup';

/**
 * `server.security_groups`: [{"name": "<name or id>"}]. Nova's schema: items are objects whose
 * only key is `name` (1-255 characters, no surrounding whitespace); items without a name are
 * dropped. Undefined when absent (the project's default group).
 */
export function parseServerSecurityGroups(value: unknown): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) invalid('security_groups', value, `${JSON.stringify(value)} is not of type 'array'`);
  const names: string[] = [];
  for (const item of value as unknown[]) {
    const entry = requireObject(item, 'security_groups');
    onlyKeys(entry, 'security_groups', ['name']);
    const name = entry.name;
    if (name === undefined) continue;
    if (typeof name !== 'string') invalid('name', name, `${JSON.stringify(name)} is not of type 'string'`);
    const s = name as string;
    if (s.length < 1 || s.length > 255) invalid('name', s, `${JSON.stringify(s)} is ${s.length < 1 ? 'too short' : 'too long'}`);
    if (s.trim() !== s) invalid('name', s, 'Leading or trailing whitespace is not allowed');
    names.push(s);
  }
  return names;
}

/** {"addSecurityGroup": {"name": "x"}} -> "x", with Nova's messages (SecurityGroupActionController._parse). */
export function parseSecurityGroupAction(body: Record<string, unknown>, action: string): string {
  const inner = body[action];
  if (typeof inner !== 'object' || inner === null || Array.isArray(inner)) throw new ValidationError('Missing parameter dict', action);
  const name = (inner as Record<string, unknown>).name;
  if (name === undefined) throw new ValidationError('Security group not specified', 'name');
  if (typeof name !== 'string' || name.trim() === '') throw new ValidationError('Security group name cannot be empty', 'name');
  return name;
}

export interface GroupRef {
  id: string;
  name: string;
}

export type Lookup = { found: GroupRef } | { missing: true } | { many: true };

/** A group among `groups` (one project's) by id, else by a unique name. */
export function findGroup(groups: ReadonlyArray<GroupRef>, nameOrId: string): Lookup {
  const byId = groups.find((g) => g.id === nameOrId.toLowerCase());
  if (byId) return { found: byId };
  const named = groups.filter((g) => g.name === nameOrId);
  if (named.length > 1) return { many: true };
  return named.length ? { found: named[0] } : { missing: true };
}

/** neutronclient's NeutronClientNoUniqueMatch message, which Nova passes on (409). */
export const noUniqueMatch = (name: string) => `Multiple security_group matches found for name '${name}', use an ID to be more specific.`;

/** One server's groups for its views: the distinct groups of its ports, in port order, by name (an unnamed one by id). */
export function serverGroupNames(
  ports: ReadonlyArray<{ device_id: string; security_groups: string[] }>,
  groups: ReadonlyMap<string, GroupRef>,
): Map<string, Array<{ name: string }>> {
  const seen = new Map<string, Set<string>>();
  const out = new Map<string, Array<{ name: string }>>();
  for (const port of ports) {
    for (const id of port.security_groups ?? []) {
      const group = groups.get(id);
      // A group the caller cannot see is left out, as Nova does.
      if (!group) continue;
      const ids = seen.get(port.device_id) ?? new Set<string>();
      seen.set(port.device_id, ids);
      if (ids.has(id)) continue;
      ids.add(id);
      out.set(port.device_id, [...(out.get(port.device_id) ?? []), { name: group.name || group.id }]);
    }
  }
  return out;
}

interface NeutronRule {
  id: string;
  direction: string;
  protocol: string | null;
  port_range_min: number | null;
  port_range_max: number | null;
  remote_ip_prefix: string | null;
  remote_group_id: string | null;
  security_group_id: string;
}

/** A Neutron group in Nova's os-security-groups shape; `all` names the remote groups of rules. */
export function novaGroupView(group: NeutronResource, all: ReadonlyMap<string, NeutronResource>): Record<string, unknown> {
  const rules = ((group.security_group_rules as NeutronRule[] | undefined) ?? []).filter((r) => r.direction === 'ingress');
  return {
    id: group.id,
    name: group.name,
    description: group.description,
    tenant_id: group.tenant_id ?? group.project_id,
    rules: rules.flatMap((r) => {
      const view = novaRuleView(r, all);
      return view ? [view] : [];
    }),
  };
}

function novaRuleView(r: NeutronRule, all: ReadonlyMap<string, NeutronResource>): Record<string, unknown> | undefined {
  const noPorts = r.protocol && r.port_range_min == null && r.port_range_max == null;
  const wide = noPorts && ['TCP', 'UDP'].includes(r.protocol!.toUpperCase());
  const view: Record<string, unknown> = {
    id: r.id,
    parent_group_id: r.security_group_id,
    ip_protocol: r.protocol,
    from_port: noPorts ? (wide ? 1 : -1) : r.port_range_min,
    to_port: noPorts ? (wide ? 65535 : -1) : r.port_range_max,
    group: {},
    ip_range: {},
  };
  if (r.remote_group_id) {
    const remote = all.get(r.remote_group_id);
    // Nova drops a rule whose remote group it cannot read.
    if (!remote) return undefined;
    view.group = { name: remote.name, tenant_id: remote.tenant_id ?? remote.project_id };
  } else {
    view.ip_range = { cidr: r.remote_ip_prefix || '0.0.0.0/0' };
  }
  return view;
}

/** Nova sorts a server's groups (and os-security-groups lists) by project, then name. */
export function byProjectThenName(a: Record<string, unknown>, b: Record<string, unknown>): number {
  const cmp = (x: unknown, y: unknown) => (String(x) < String(y) ? -1 : String(x) > String(y) ? 1 : 0);
  return cmp(a.tenant_id, b.tenant_id) || cmp(a.name, b.name);
}
