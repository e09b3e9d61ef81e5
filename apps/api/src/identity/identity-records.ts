/** Rows the identity services read from `identity.*`, already in camelCase. */
import { randomUUID } from 'node:crypto';

/** Keystone ids: uuid4 as 32 hex digits. */
export const newIdentityId = (): string => randomUUID().replace(/-/g, '');

export interface DomainRecord {
  id: string;
  name: string;
  description: string;
  enabled: boolean;
}

export interface ProjectRecord {
  id: string;
  name: string;
  domainId: string;
  description: string;
  enabled: boolean;
}

export interface UserRecord {
  id: string;
  name: string;
  domainId: string;
  defaultProjectId: string | null;
  enabled: boolean;
}

export interface RoleRecord {
  id: string;
  name: string;
}

/** A user's role on a project; the names are filled when the caller asked include_names. */
export interface AssignmentRecord {
  userId: string;
  projectId: string;
  roleId: string;
  names?: {
    user: string;
    userDomain: { id: string; name: string };
    project: string;
    projectDomain: { id: string; name: string };
    role: string;
  };
}

/** Filters common to the list calls; `undefined` means "not filtered". */
export interface ListFilters {
  name?: string;
  domainId?: string;
  enabled?: boolean;
}

export const PROJECT_COLUMNS = `id, name, domain_id AS "domainId", description, enabled`;
export const USER_COLUMNS = `id, name, domain_id AS "domainId", default_project_id AS "defaultProjectId", enabled`;

/** PostgreSQL's unique_violation, as TypeORM passes it through. */
export function isUniqueViolation(error: unknown): boolean {
  const e = error as { code?: string; driverError?: { code?: string } };
  return e?.code === '23505' || e?.driverError?.code === '23505';
}
