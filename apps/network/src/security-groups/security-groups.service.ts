/** Neutron security groups, and the one `default` group per project (created on first need). */
import { Inject, Injectable } from '@nestjs/common';
import { NeutronCaller, NeutronQuery, NeutronResource } from '@nubo/contracts';
import { randomUUID } from 'node:crypto';
import { DataSource, EntityManager } from 'typeorm';
import { checkQuota } from '../common/db';
import { NOT_FOUND, badRequest, conflict, forbidden } from '../common/neutron-errors';
import { isUuid, isoTime, listView, optBool, optString, resourceBody, selectFields } from '../common/neutron-query';
import { RuleRow, insertRule, ruleView } from './rule-store';

export interface GroupRow {
  id: string;
  project_id: string;
  name: string;
  description: string;
  is_default: boolean;
  stateful: boolean;
  created_at: Date;
  updated_at: Date;
  revision_number: number;
}

const GROUP_ATTRS = ['name', 'description', 'stateful', 'project_id', 'tenant_id'] as const;
const EGRESS_ANYWHERE = (['IPv4', 'IPv6'] as const).map((ethertype) => ({ direction: 'egress' as const, ethertype }));

@Injectable()
export class SecurityGroupsService {
  constructor(@Inject(DataSource) private readonly db: DataSource) {}

  /**
   * The project's default group, created with Neutron's rules if it has none. Parallel callers
   * meet at the unique index security_groups_default: the loser's INSERT waits for the winner's
   * commit and does nothing, then reads the winner's group.
   */
  async ensureDefault(m: EntityManager, projectId: string): Promise<string> {
    const find = async () => (await m.query(`SELECT id FROM network.security_groups WHERE project_id = $1 AND is_default`, [projectId]))[0]?.id;
    const existing = await find();
    if (existing) return existing;
    const run = async (tx: EntityManager) => {
      const id = randomUUID();
      const inserted = await tx.query(
        `INSERT INTO network.security_groups (id, project_id, name, description, is_default) VALUES ($1, $2, 'default', 'Default security group', true)
         ON CONFLICT (project_id) WHERE is_default DO NOTHING RETURNING id`,
        [id, projectId],
      );
      if (!inserted.length) return;
      for (const ethertype of ['IPv4', 'IPv6'] as const) {
        await insertRule(tx, { securityGroupId: id, projectId, direction: 'ingress', ethertype, remoteGroupId: id });
        await insertRule(tx, { securityGroupId: id, projectId, direction: 'egress', ethertype });
      }
    };
    await (m.queryRunner?.isTransactionActive ? run(m) : this.db.transaction(run));
    return (await find()) ?? (await this.db.query(`SELECT id FROM network.security_groups WHERE project_id = $1 AND is_default`, [projectId]))[0].id;
  }

  async list(caller: NeutronCaller, query: NeutronQuery): Promise<NeutronResource[]> {
    await this.ensureDefault(this.db.manager, caller.projectId);
    const groups: GroupRow[] = await this.db.query(
      `SELECT * FROM network.security_groups WHERE $1::boolean OR project_id = $2 ORDER BY created_at, id`,
      [caller.isAdmin, caller.projectId],
    );
    const rules = await this.rulesOf(this.db.manager, groups.map((g) => g.id));
    return listView(groups.map((g) => groupView(g, rules)), query);
  }

  async show(caller: NeutronCaller, id: string, query: NeutronQuery): Promise<NeutronResource> {
    const group = await this.visible(this.db.manager, caller, id);
    return selectFields(groupView(group, await this.rulesOf(this.db.manager, [id])), query);
  }

  async visible(m: EntityManager, caller: NeutronCaller, id: string, lock = false): Promise<GroupRow> {
    if (!isUuid(id)) throw NOT_FOUND.securityGroup(id);
    const [row] = await m.query(
      `SELECT * FROM network.security_groups WHERE id = $3 AND ($1::boolean OR project_id = $2)${lock ? ' FOR UPDATE' : ''}`,
      [caller.isAdmin, caller.projectId, id],
    );
    if (!row) throw NOT_FOUND.securityGroup(id);
    return row;
  }

  async create(caller: NeutronCaller, raw: unknown): Promise<NeutronResource> {
    const body = resourceBody(raw, 'security_group', GROUP_ATTRS);
    const name = optString(body, 'name') ?? '';
    if (name === 'default') throw conflict('SecurityGroupDefaultAlreadyExists', 'Default security group already exists.');
    const description = optString(body, 'description') ?? '';
    const stateful = optBool(body, 'stateful') ?? true;
    const projectId = optString(body, 'project_id') ?? optString(body, 'tenant_id') ?? caller.projectId;
    if (projectId !== caller.projectId && !caller.isAdmin) throw forbidden('(rule:create_security_group) is disallowed by policy');
    await this.ensureDefault(this.db.manager, projectId);
    const id = randomUUID();
    await this.db.transaction(async (m) => {
      await checkQuota(m, 'security_group', projectId);
      await m.query(`INSERT INTO network.security_groups (id, project_id, name, description, stateful) VALUES ($1, $2, $3, $4, $5)`, [
        id, projectId, name, description, stateful,
      ]);
      for (const rule of EGRESS_ANYWHERE) await insertRule(m, { securityGroupId: id, projectId, ...rule });
    });
    return this.show(caller, id, {});
  }

  async update(caller: NeutronCaller, id: string, raw: unknown): Promise<NeutronResource> {
    const body = resourceBody(raw, 'security_group', GROUP_ATTRS);
    if (body.project_id !== undefined || body.tenant_id !== undefined) throw badRequest('Cannot update read-only attribute project_id', 'project_id');
    const name = optString(body, 'name');
    const description = optString(body, 'description');
    const stateful = optBool(body, 'stateful');
    await this.db.transaction(async (m) => {
      const group = await this.visible(m, caller, id, true);
      if (group.is_default && name !== undefined && name !== 'default') {
        throw conflict('SecurityGroupCannotUpdateDefault', 'Updating default security group not allowed.');
      }
      if (!group.is_default && name === 'default') throw conflict('SecurityGroupDefaultAlreadyExists', 'Default security group already exists.');
      await m.query(
        `UPDATE network.security_groups SET name = coalesce($2, name), description = coalesce($3, description), stateful = coalesce($4, stateful),
           updated_at = now(), revision_number = revision_number + 1 WHERE id = $1`,
        [id, name, description, stateful],
      );
    });
    return this.show(caller, id, {});
  }

  async delete(caller: NeutronCaller, id: string): Promise<void> {
    await this.db.transaction(async (m) => {
      const group = await this.visible(m, caller, id, true);
      if (group.is_default && !caller.isAdmin) throw conflict('SecurityGroupCannotRemoveDefault', 'Insufficient rights for removing default security group.');
      const [used] = await m.query(`SELECT 1 FROM network.port_security_groups WHERE security_group_id = $1 LIMIT 1`, [id]);
      if (used) throw conflict('SecurityGroupInUse', `Security Group ${id} in use.`);
      await m.query(`DELETE FROM network.security_groups WHERE id = $1`, [id]);
    });
  }

  private async rulesOf(m: EntityManager, groupIds: string[]): Promise<Map<string, NeutronResource[]>> {
    const rows: RuleRow[] = groupIds.length
      ? await m.query(`SELECT r.*, g.is_default FROM network.security_group_rules r JOIN network.security_groups g ON g.id = r.security_group_id
           WHERE r.security_group_id = ANY($1::uuid[]) ORDER BY r.created_at, r.id`, [groupIds])
      : [];
    const out = new Map<string, NeutronResource[]>();
    for (const r of rows) out.set(r.security_group_id, [...(out.get(r.security_group_id) ?? []), ruleView(r)]);
    return out;
  }
}

function groupView(g: GroupRow, rules: Map<string, NeutronResource[]>): NeutronResource {
  return {
    id: g.id,
    name: g.name,
    description: g.description,
    tenant_id: g.project_id,
    project_id: g.project_id,
    stateful: g.stateful,
    shared: false,
    security_group_rules: rules.get(g.id) ?? [],
    tags: [],
    created_at: isoTime(g.created_at),
    updated_at: isoTime(g.updated_at),
    revision_number: g.revision_number,
  };
}
