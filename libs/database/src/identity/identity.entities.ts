import { Column, Entity, PrimaryColumn } from 'typeorm';

@Entity({ schema: 'identity', name: 'domains' })
export class DomainEntity {
  @PrimaryColumn('text') id!: string;
  @Column('text') name!: string;
  @Column('text', { default: '' }) description!: string;
  @Column('boolean', { default: true }) enabled!: boolean;
  @Column('timestamptz', { name: 'created_at', default: () => 'now()' }) createdAt!: Date;
}

@Entity({ schema: 'identity', name: 'projects' })
export class ProjectEntity {
  @PrimaryColumn('text') id!: string;
  @Column('text') name!: string;
  @Column('text', { name: 'domain_id' }) domainId!: string;
  @Column('text', { default: '' }) description!: string;
  @Column('boolean', { default: true }) enabled!: boolean;
  @Column('timestamptz', { name: 'created_at', default: () => 'now()' }) createdAt!: Date;
}

@Entity({ schema: 'identity', name: 'users' })
export class UserEntity {
  @PrimaryColumn('text') id!: string;
  @Column('text') name!: string;
  @Column('text', { name: 'domain_id' }) domainId!: string;
  /** scrypt$N$r$p$salt$hash; never logged, never returned. */
  @Column('text', { name: 'password_hash', select: false }) passwordHash!: string;
  @Column('text', { name: 'default_project_id', nullable: true }) defaultProjectId!: string | null;
  @Column('boolean', { default: true }) enabled!: boolean;
  @Column('timestamptz', { name: 'created_at', default: () => 'now()' }) createdAt!: Date;
}

@Entity({ schema: 'identity', name: 'roles' })
export class RoleEntity {
  @PrimaryColumn('text') id!: string;
  @Column('text') name!: string;
}

@Entity({ schema: 'identity', name: 'role_assignments' })
export class RoleAssignmentEntity {
  @PrimaryColumn('text', { name: 'user_id' }) userId!: string;
  @PrimaryColumn('text', { name: 'project_id' }) projectId!: string;
  @PrimaryColumn('text', { name: 'role_id' }) roleId!: string;
}

@Entity({ schema: 'identity', name: 'tokens' })
export class TokenEntity {
  /** sha256 of the opaque token; the token itself is never stored. */
  @PrimaryColumn('text', { name: 'token_hash' }) tokenHash!: string;
  @Column('text', { name: 'audit_id' }) auditId!: string;
  @Column('text', { name: 'user_id' }) userId!: string;
  @Column('text', { name: 'project_id' }) projectId!: string;
  @Column('timestamptz', { name: 'issued_at' }) issuedAt!: Date;
  @Column('timestamptz', { name: 'expires_at' }) expiresAt!: Date;
  @Column('timestamptz', { name: 'revoked_at', nullable: true }) revokedAt!: Date | null;
}

export const identityEntities = [
  DomainEntity,
  ProjectEntity,
  UserEntity,
  RoleEntity,
  RoleAssignmentEntity,
  TokenEntity,
];
