/** Nova's tenant resources: key pairs, server groups, quota limits, flavor access. */
import { Column, Entity, PrimaryColumn, PrimaryGeneratedColumn } from 'typeorm';

/** A user's SSH key; names are unique per user (Nova's key pairs belong to users, not projects). */
@Entity({ schema: 'compute', name: 'key_pairs' })
export class KeyPairEntity {
  @PrimaryGeneratedColumn('increment', { type: 'bigint' }) id!: string;
  @Column('text', { name: 'user_id' }) userId!: string;
  /** The project the key was created in; informational only. */
  @Column('text', { name: 'project_id' }) projectId!: string;
  @Column('text') name!: string;
  @Column('text', { default: 'ssh' }) type!: string;
  @Column('text', { name: 'public_key' }) publicKey!: string;
  @Column('text') fingerprint!: string;
  @Column('timestamptz', { name: 'created_at', default: () => 'now()' }) createdAt!: Date;
}

export type ServerGroupPolicy = 'affinity' | 'anti-affinity' | 'soft-affinity' | 'soft-anti-affinity';

@Entity({ schema: 'compute', name: 'server_groups' })
export class ServerGroupEntity {
  @PrimaryColumn('uuid') id!: string;
  @Column('text', { name: 'project_id' }) projectId!: string;
  @Column('text', { name: 'user_id' }) userId!: string;
  @Column('text') name!: string;
  @Column('text') policy!: ServerGroupPolicy;
  @Column('timestamptz', { name: 'created_at', default: () => 'now()' }) createdAt!: Date;
}

/** A server belongs to at most one group. */
@Entity({ schema: 'compute', name: 'server_group_members' })
export class ServerGroupMemberEntity {
  @PrimaryColumn('uuid', { name: 'group_id' }) groupId!: string;
  @PrimaryColumn('uuid', { name: 'server_id' }) serverId!: string;
  @Column('timestamptz', { name: 'created_at', default: () => 'now()' }) createdAt!: Date;
}

/** A project's limit for one resource; no row means the default. -1 is unlimited. */
@Entity({ schema: 'compute', name: 'quota_limits' })
export class QuotaLimitEntity {
  @PrimaryColumn('text', { name: 'project_id' }) projectId!: string;
  @PrimaryColumn('text') resource!: string;
  @Column('int', { name: 'hard_limit' }) hardLimit!: number;
  @Column('timestamptz', { name: 'updated_at', default: () => 'now()' }) updatedAt!: Date;
}

/** A project allowed to use a private flavor. */
@Entity({ schema: 'compute', name: 'flavor_projects' })
export class FlavorProjectEntity {
  @PrimaryColumn('text', { name: 'flavor_id' }) flavorId!: string;
  @PrimaryColumn('text', { name: 'project_id' }) projectId!: string;
  @Column('timestamptz', { name: 'created_at', default: () => 'now()' }) createdAt!: Date;
}

export const tenantResourceEntities = [KeyPairEntity, ServerGroupEntity, ServerGroupMemberEntity, QuotaLimitEntity, FlavorProjectEntity];
