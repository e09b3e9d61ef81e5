/**
 * Nova server groups: a named policy (affinity, anti-affinity and their soft forms) over the
 * project's servers. Membership is written by server create through `addMember`, inside its
 * transaction; the scheduler reads the members and the policy when it places a server.
 */
import { Inject, Injectable } from '@nestjs/common';
import { NotFoundError } from '@nubo/contracts';
import { ServerGroupEntity, ServerGroupPolicy } from '@nubo/database';
import { randomUUID } from 'node:crypto';
import { DataSource, EntityManager } from 'typeorm';
import { AuthContext } from '../../common/auth-context';
import { isUuid } from '../../common/validation';
import { QuotaService } from '../quotas/quota.service';

export interface CreateGroupRequest {
  name: string;
  policy: ServerGroupPolicy;
}

export interface GroupWithMembers {
  group: ServerGroupEntity;
  members: string[];
}

const notFound = (id: string) => new NotFoundError(`Instance group ${id} could not be found.`);

@Injectable()
export class GroupsService {
  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(QuotaService) private readonly quotas: QuotaService,
  ) {}

  async create(request: CreateGroupRequest, auth: AuthContext): Promise<GroupWithMembers> {
    const group = await this.db.transaction(async (tx) => {
      await this.quotas.lock(tx, `project:${auth.projectId}`);
      const [{ used }] = await tx.query(`SELECT count(*)::int AS used FROM compute.server_groups WHERE project_id = $1`, [auth.projectId]);
      await this.quotas.checkCount(tx, { projectId: auth.projectId, resource: 'server_groups', used, message: 'Quota exceeded, too many server groups.' });
      const row = tx.getRepository(ServerGroupEntity).create({
        id: randomUUID(),
        projectId: auth.projectId,
        userId: auth.userId,
        name: request.name,
        policy: request.policy,
      });
      await tx.getRepository(ServerGroupEntity).insert(row);
      return tx.getRepository(ServerGroupEntity).findOneByOrFail({ id: row.id });
    });
    return { group, members: [] };
  }

  /** The project's groups; every project's for admins who ask for all projects. */
  async list(auth: AuthContext, o: { allProjects: boolean; limit?: number; offset?: number }): Promise<GroupWithMembers[]> {
    const groups = await this.db.getRepository(ServerGroupEntity).find({
      where: o.allProjects && auth.isAdmin ? {} : { projectId: auth.projectId },
      order: { createdAt: 'ASC', id: 'ASC' },
      skip: o.offset,
      take: o.limit,
    });
    const members = await this.membersOf(this.db.manager, groups.map((g) => g.id));
    return groups.map((group) => ({ group, members: members.get(group.id) ?? [] }));
  }

  /** Another project's group is NotFound, like one that never existed (admins see all). */
  async get(id: string, auth: AuthContext): Promise<GroupWithMembers> {
    const group = isUuid(id) ? await this.db.getRepository(ServerGroupEntity).findOneBy({ id }) : null;
    if (!group || (group.projectId !== auth.projectId && !auth.isAdmin)) throw notFound(id);
    return { group, members: (await this.membersOf(this.db.manager, [group.id])).get(group.id) ?? [] };
  }

  async delete(id: string, auth: AuthContext): Promise<void> {
    const { group } = await this.get(id, auth);
    await this.db.getRepository(ServerGroupEntity).delete({ id: group.id });
  }

  /**
   * Puts a server into a group, inside the caller's (server create) transaction. The group must be
   * the project's: any other id answers NotFound. Locks the group row, so concurrent creates into
   * one group count each other, and enforces the server_group_members quota.
   */
  async addMember(tx: EntityManager, groupId: string, serverId: string, projectId: string): Promise<ServerGroupEntity> {
    const [group]: Array<{ id: string; project_id: string }> = isUuid(groupId)
      ? await tx.query(`SELECT id, project_id FROM compute.server_groups WHERE id = $1 FOR UPDATE`, [groupId])
      : [];
    if (!group || group.project_id !== projectId) throw notFound(groupId);
    // Servers not inserted yet (the FK is deferred) count too: their row has no deleted_at.
    const [{ used }] = await tx.query(
      `SELECT count(*)::int AS used FROM compute.server_group_members m
         LEFT JOIN compute.servers s ON s.id = m.server_id WHERE m.group_id = $1 AND s.deleted_at IS NULL`,
      [groupId],
    );
    await this.quotas.checkCount(tx, { projectId, resource: 'server_group_members', used, message: 'Quota exceeded, too many servers in group' });
    await tx.query(`INSERT INTO compute.server_group_members (group_id, server_id) VALUES ($1, $2)`, [groupId, serverId]);
    return tx.getRepository(ServerGroupEntity).findOneByOrFail({ id: groupId });
  }

  /** Live member server ids per group, oldest first. */
  private async membersOf(em: EntityManager, groupIds: string[]): Promise<Map<string, string[]>> {
    const byGroup = new Map<string, string[]>();
    if (!groupIds.length) return byGroup;
    const rows: Array<{ group_id: string; server_id: string }> = await em.query(
      `SELECT m.group_id, m.server_id FROM compute.server_group_members m
         JOIN compute.servers s ON s.id = m.server_id
        WHERE m.group_id = ANY($1::uuid[]) AND s.deleted_at IS NULL ORDER BY m.created_at, m.server_id`,
      [groupIds],
    );
    for (const r of rows) byGroup.set(r.group_id, [...(byGroup.get(r.group_id) ?? []), r.server_id]);
    return byGroup;
  }
}
