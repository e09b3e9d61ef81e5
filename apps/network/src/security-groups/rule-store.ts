/** Rows of security group rules: insertion with duplicate detection, and Neutron's view of a rule. */
import { NeutronResource } from '@nubo/contracts';
import { randomUUID } from 'node:crypto';
import { EntityManager } from 'typeorm';
import { isUniqueViolation } from '../common/db';
import { conflict } from '../common/neutron-errors';
import { isoTime } from '../common/neutron-query';
import { RuleSpec, dedupeKey } from './rule-body';

export interface RuleRow {
  id: string;
  security_group_id: string;
  project_id: string;
  direction: string;
  ethertype: string;
  protocol: string | null;
  port_range_min: number | null;
  port_range_max: number | null;
  remote_ip_prefix: string | null;
  remote_group_id: string | null;
  description: string;
  is_default: boolean;
  created_at: Date;
  updated_at: Date;
  revision_number: number;
}

type NewRule = Pick<RuleSpec, 'securityGroupId' | 'direction' | 'ethertype'> & Partial<RuleSpec> & { projectId: string };

/** Inserts a rule; a duplicate of one of its group's rules becomes SecurityGroupRuleExists. */
export async function insertRule(m: EntityManager, r: NewRule): Promise<string> {
  const rule = { protocol: null, portRangeMin: null, portRangeMax: null, remoteIpPrefix: null, remoteGroupId: null, description: '', ...r };
  const id = randomUUID();
  const key = dedupeKey(rule);
  // A savepoint, so that a duplicate leaves the surrounding transaction usable to name the rule.
  await m.query('SAVEPOINT insert_rule');
  try {
    await m.query(
      `INSERT INTO network.security_group_rules (id, security_group_id, project_id, direction, ethertype, protocol, port_range_min, port_range_max,
         remote_ip_prefix, remote_group_id, description, dedupe_key) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)`,
      [id, rule.securityGroupId, rule.projectId, rule.direction, rule.ethertype, rule.protocol, rule.portRangeMin, rule.portRangeMax,
        rule.remoteIpPrefix, rule.remoteGroupId, rule.description, key],
    );
    await m.query('RELEASE SAVEPOINT insert_rule');
  } catch (error) {
    await m.query('ROLLBACK TO SAVEPOINT insert_rule');
    if (!isUniqueViolation(error, 'security_group_rules_dedupe')) throw error;
    const [existing] = await m.query(`SELECT id FROM network.security_group_rules WHERE security_group_id = $1 AND dedupe_key = $2`, [rule.securityGroupId, key]);
    throw conflict('SecurityGroupRuleExists', `Security group rule already exists. Rule id is ${existing?.id}.`, { ruleId: existing?.id });
  }
  return id;
}

export function ruleView(r: RuleRow): NeutronResource {
  return {
    id: r.id,
    tenant_id: r.project_id,
    project_id: r.project_id,
    security_group_id: r.security_group_id,
    direction: r.direction,
    ethertype: r.ethertype,
    protocol: r.protocol,
    port_range_min: r.port_range_min,
    port_range_max: r.port_range_max,
    remote_ip_prefix: r.remote_ip_prefix,
    normalized_cidr: r.remote_ip_prefix,
    remote_group_id: r.remote_group_id,
    remote_address_group_id: null,
    belongs_to_default_sg: r.is_default,
    description: r.description,
    tags: [],
    created_at: isoTime(r.created_at),
    updated_at: isoTime(r.updated_at),
    revision_number: r.revision_number,
  };
}
