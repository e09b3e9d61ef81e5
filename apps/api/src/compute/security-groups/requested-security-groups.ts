/**
 * A server create's `security_groups`, resolved before the server is accepted (Nova's
 * validate_name): each name or id must be one group of the server's project, else 400 naming it
 * ("Unable to find security_group with name or id 'x'"); a name several groups hold is 409.
 * Nothing is created here: the ids travel in the requested networks to the port binding.
 */
import { ConflictError, NeutronOps, RequestedNetwork, ValidationError, subjects } from '@nubo/contracts';
import { RpcClient } from '@nubo/messaging';
import { GroupRef, findGroup, noUniqueMatch } from './nova-security-groups';

/** The groups of one project (its default made if missing, as Neutron does on any list). */
export async function projectGroups(rpc: RpcClient, projectId: string, requestId: string): Promise<GroupRef[]> {
  const op = NeutronOps['security-groups'].list;
  const reply = await rpc.call(subjects.service('network', op.op), op, { caller: { projectId, isAdmin: false }, query: { fields: ['id', 'name'] } }, { requestId });
  return reply.items.map((g) => ({ id: String(g.id), name: String(g.name ?? '') }));
}

/** The names as group ids of `projectId`, without repeats, in the order given. */
export async function resolveSecurityGroups(rpc: RpcClient, names: ReadonlyArray<string>, projectId: string, requestId: string): Promise<string[]> {
  const groups = await projectGroups(rpc, projectId, requestId);
  const ids: string[] = [];
  for (const name of names) {
    const hit = findGroup(groups, name);
    if ('many' in hit) throw new ConflictError(noUniqueMatch(name));
    if ('missing' in hit) throw new ValidationError(`Unable to find security_group with name or id '${name}'`, 'security_groups');
    if (!ids.includes(hit.found.id)) ids.push(hit.found.id);
  }
  return ids;
}

/** The groups go on the ports made for networks; a port the user gave keeps its own (Nova). Pure. */
export function withSecurityGroups(networks: ReadonlyArray<RequestedNetwork>, groupIds: string[] | undefined): RequestedNetwork[] {
  if (groupIds === undefined) return [...networks];
  return networks.map((n) => (n.networkId ? { ...n, securityGroups: [...groupIds] } : n));
}
