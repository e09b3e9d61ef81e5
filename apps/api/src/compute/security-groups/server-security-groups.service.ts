/**
 * Nova's security groups of servers, done through the network service's Neutron calls as Nova does
 * through Neutron's API: names resolved in the server's project, a server's groups read off its
 * ports, addSecurityGroup / removeSecurityGroup as port updates (whose answer waits until the
 * hosts' firewalls hold the change: the network service's data plane follow-up).
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import { ConflictError, NeutronCaller, NeutronCollection, NeutronOps, NeutronQuery, NeutronResource, NotFoundError, ValidationError, subjects } from '@nubo/contracts';
import { RpcClient } from '@nubo/messaging';
import { AuthContext } from '../../common/auth-context';
import {
  ADD_SECURITY_GROUP_ACTION,
  REMOVE_SECURITY_GROUP_ACTION,
  byProjectThenName,
  findGroup,
  noUniqueMatch,
  novaGroupView,
  parseSecurityGroupAction,
  serverGroupNames,
} from './nova-security-groups';
import { projectGroups } from './requested-security-groups';

const callerOf = (auth: AuthContext): NeutronCaller => ({ projectId: auth.projectId, isAdmin: auth.isAdmin });
/** Nova's SecurityGroupCannotBeApplied (400). */
const CANNOT_APPLY = 'Network requires port_security_enabled and subnet associated in order to apply security groups.';

interface ServerRef {
  id: string;
  projectId: string;
}

@Injectable()
export class ServerSecurityGroupsService {
  private readonly logger = new Logger(ServerSecurityGroupsService.name);

  constructor(@Inject(RpcClient) private readonly rpc: RpcClient) {}

  private async list(collection: NeutronCollection, caller: NeutronCaller, query: NeutronQuery, requestId: string): Promise<NeutronResource[]> {
    const op = NeutronOps[collection].list;
    return (await this.rpc.call(subjects.service('network', op.op), op, { caller, query }, { requestId })).items;
  }

  /** Each server's `security_groups` for its views (absent: no port carries a group); never throws. */
  async namesOf(serverIds: ReadonlyArray<string>, auth: AuthContext, requestId: string): Promise<Map<string, Array<{ name: string }>>> {
    if (serverIds.length === 0) return new Map();
    try {
      const ports = await this.list('ports', callerOf(auth), { device_id: [...serverIds], fields: ['device_id', 'security_groups'] }, requestId);
      const ids = [...new Set(ports.flatMap((p) => (p.security_groups as string[] | undefined) ?? []))];
      if (ids.length === 0) return new Map();
      const groups = await this.list('security-groups', callerOf(auth), { id: ids, fields: ['id', 'name'] }, requestId);
      const byId = new Map(groups.map((g) => [String(g.id), { id: String(g.id), name: String(g.name ?? '') }]));
      return serverGroupNames(ports as Array<{ device_id: string; security_groups: string[] }>, byId);
    } catch (error) {
      this.logger.warn(`security groups of ${serverIds.length} server(s) not shown: ${(error as Error).message} requestId=${requestId}`);
      return new Map();
    }
  }

  /** GET /servers/{id}/os-security-groups: the groups on the server's ports, Nova-shaped, by project then name. */
  async detailsOf(server: ServerRef, auth: AuthContext, requestId: string): Promise<Array<Record<string, unknown>>> {
    const ports = await this.list('ports', callerOf(auth), { device_id: server.id }, requestId);
    const ids = new Set(ports.flatMap((p) => (p.security_groups as string[] | undefined) ?? []));
    if (ids.size === 0) return [];
    const all = new Map((await this.list('security-groups', callerOf(auth), {}, requestId)).map((g) => [String(g.id), g]));
    return [...ids].flatMap((id) => (all.has(id) ? [novaGroupView(all.get(id)!, all)] : [])).sort(byProjectThenName);
  }

  /** Nova os-security-groups index: the caller's project's groups (admins with all_tenants: every group). */
  async novaList(auth: AuthContext, allTenants: boolean, requestId: string): Promise<Array<Record<string, unknown>>> {
    const groups = await this.list('security-groups', callerOf(auth), {}, requestId);
    const all = new Map(groups.map((g) => [String(g.id), g]));
    const shown = auth.isAdmin && allTenants ? groups : groups.filter((g) => (g.project_id ?? g.tenant_id) === auth.projectId);
    return shown.map((g) => novaGroupView(g, all)).sort(byProjectThenName);
  }

  /** Nova os-security-groups show; the id must be a UUID (400), an unknown one is 404. */
  async novaShow(auth: AuthContext, id: string, requestId: string): Promise<Record<string, unknown>> {
    if (!/^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i.test(id)) throw new ValidationError('Security group id should be uuid', 'id');
    const op = NeutronOps['security-groups'].show;
    const group = (await this.rpc.call(subjects.service('network', op.op), op, { caller: callerOf(auth), id, query: {} }, { requestId })).item;
    const all = new Map((await this.list('security-groups', callerOf(auth), {}, requestId)).map((g) => [String(g.id), g]));
    return novaGroupView(group, all);
  }

  /** addSecurityGroup / removeSecurityGroup: 202 once every port of the server holds the change; undefined for other actions. */
  async act(name: string, body: Record<string, unknown>, server: ServerRef, auth: AuthContext, requestId: string): Promise<{ status: 202 } | undefined> {
    if (name !== ADD_SECURITY_GROUP_ACTION && name !== REMOVE_SECURITY_GROUP_ACTION) return undefined;
    const wanted = parseSecurityGroupAction(body, name);
    const hit = findGroup(await projectGroups(this.rpc, server.projectId, requestId), wanted);
    if ('many' in hit) throw new ConflictError(noUniqueMatch(wanted));
    if ('missing' in hit) throw new NotFoundError(`Security group ${wanted} is not found for project ${server.projectId}`);
    const ports = await this.list('ports', callerOf(auth), { device_id: server.id }, requestId);
    if (ports.length === 0) throw new NotFoundError(`instance_id ${server.id} could not be found as device id on any ports`);
    const groupId = hit.found.id;
    const groupsOf = (p: NeutronResource) => (p.security_groups as string[] | undefined) ?? [];
    if (name === ADD_SECURITY_GROUP_ACTION) {
      // Checked on every port first, so a refusal changes none of them.
      if (ports.some((p) => p.port_security_enabled === false || !(p.fixed_ips as unknown[] | undefined)?.length)) throw new ValidationError(CANNOT_APPLY, 'name');
      for (const port of ports.filter((p) => !groupsOf(p).includes(groupId))) {
        await this.updateGroups(port, [...groupsOf(port), groupId], auth, requestId);
      }
    } else {
      const holding = ports.filter((p) => groupsOf(p).includes(groupId));
      if (holding.length === 0) throw new NotFoundError(`Security group ${wanted} not associated with the instance ${server.id}`);
      for (const port of holding) await this.updateGroups(port, groupsOf(port).filter((g) => g !== groupId), auth, requestId);
    }
    this.logger.log(`server ${server.id}: ${name} ${groupId} on ${ports.length} port(s) requestId=${requestId}`);
    return { status: 202 };
  }

  /** Neutron's port update: the network service pushes the hosts before it answers. */
  private async updateGroups(port: NeutronResource, groups: string[], auth: AuthContext, requestId: string): Promise<void> {
    const op = NeutronOps.ports.update;
    await this.rpc.call(subjects.service('network', op.op), op, { caller: callerOf(auth), id: String(port.id), body: { port: { security_groups: groups } } }, { requestId });
  }
}
