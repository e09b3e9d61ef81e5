/** Neutron security group rules: create (duplicates refused by a unique key), list, show, delete. */
import { Inject, Injectable } from '@nestjs/common';
import { NeutronCaller, NeutronQuery, NeutronResource } from '@nubo/contracts';
import { DataSource, EntityManager } from 'typeorm';
import { checkQuota } from '../common/db';
import { NOT_FOUND } from '../common/neutron-errors';
import { isUuid, listView, selectFields } from '../common/neutron-query';
import { parseRuleCreate } from './rule-body';
import { RuleRow, insertRule, ruleView } from './rule-store';
import { SecurityGroupsService } from './security-groups.service';

const SELECT = `SELECT r.*, g.is_default FROM network.security_group_rules r JOIN network.security_groups g ON g.id = r.security_group_id`;

@Injectable()
export class SecurityGroupRulesService {
  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(SecurityGroupsService) private readonly groups: SecurityGroupsService,
  ) {}

  async list(caller: NeutronCaller, query: NeutronQuery): Promise<NeutronResource[]> {
    await this.groups.ensureDefault(this.db.manager, caller.projectId);
    const rows: RuleRow[] = await this.db.query(`${SELECT} WHERE $1::boolean OR r.project_id = $2 ORDER BY r.created_at, r.id`, [caller.isAdmin, caller.projectId]);
    return listView(rows.map(ruleView), query);
  }

  async show(caller: NeutronCaller, id: string, query: NeutronQuery): Promise<NeutronResource> {
    return selectFields(ruleView(await this.visible(this.db.manager, caller, id)), query);
  }

  private async visible(m: EntityManager, caller: NeutronCaller, id: string): Promise<RuleRow> {
    if (!isUuid(id)) throw NOT_FOUND.securityGroupRule(id);
    const [row] = await m.query(`${SELECT} WHERE r.id = $3 AND ($1::boolean OR r.project_id = $2)`, [caller.isAdmin, caller.projectId, id]);
    if (!row) throw NOT_FOUND.securityGroupRule(id);
    return row;
  }

  async create(caller: NeutronCaller, body: unknown): Promise<NeutronResource> {
    const spec = parseRuleCreate(body, caller);
    const id = await this.db.transaction(async (m) => {
      const group = await this.groups.visible(m, caller, spec.securityGroupId, true);
      if (spec.remoteGroupId) await this.groups.visible(m, caller, spec.remoteGroupId);
      await checkQuota(m, 'security_group_rule', group.project_id);
      return insertRule(m, { ...spec, projectId: group.project_id });
    });
    return this.show(caller, id, {});
  }

  async delete(caller: NeutronCaller, id: string): Promise<void> {
    await this.visible(this.db.manager, caller, id);
    await this.db.query(`DELETE FROM network.security_group_rules WHERE id = $1`, [id]);
  }
}

