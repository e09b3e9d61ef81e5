/**
 * Keystone v3 response bodies: every entity carries links.self, every collection links
 * {self, previous, next}. Nubo keeps no tags, options or project hierarchy, so those fields
 * always carry Keystone's empty values.
 */
import { AssignmentRecord, DomainRecord, ProjectRecord, RoleRecord, UserRecord } from './identity-records';

const v3 = (baseUrl: string) => `${baseUrl}/identity/v3`;

export function domainView(d: DomainRecord, baseUrl: string) {
  return {
    id: d.id,
    name: d.name,
    description: d.description,
    enabled: d.enabled,
    tags: [],
    options: {},
    links: { self: `${v3(baseUrl)}/domains/${d.id}` },
  };
}

export function projectView(p: ProjectRecord, baseUrl: string) {
  return {
    id: p.id,
    name: p.name,
    domain_id: p.domainId,
    description: p.description,
    enabled: p.enabled,
    // A top-level project's parent is its domain.
    parent_id: p.domainId,
    is_domain: false,
    tags: [],
    options: {},
    links: { self: `${v3(baseUrl)}/projects/${p.id}` },
  };
}

export function userView(u: UserRecord, baseUrl: string) {
  return {
    id: u.id,
    name: u.name,
    domain_id: u.domainId,
    enabled: u.enabled,
    // Keystone leaves the key out when the user has no default project.
    ...(u.defaultProjectId ? { default_project_id: u.defaultProjectId } : {}),
    password_expires_at: null,
    options: {},
    links: { self: `${v3(baseUrl)}/users/${u.id}` },
  };
}

export function roleView(r: RoleRecord, baseUrl: string) {
  return {
    id: r.id,
    name: r.name,
    domain_id: null,
    description: null,
    options: {},
    links: { self: `${v3(baseUrl)}/roles/${r.id}` },
  };
}

export function assignmentView(a: AssignmentRecord, baseUrl: string) {
  const n = a.names;
  return {
    role: n ? { id: a.roleId, name: n.role } : { id: a.roleId },
    scope: { project: n ? { id: a.projectId, name: n.project, domain: n.projectDomain } : { id: a.projectId } },
    user: n ? { id: a.userId, name: n.user, domain: n.userDomain } : { id: a.userId },
    links: { assignment: `${v3(baseUrl)}/projects/${a.projectId}/users/${a.userId}/roles/${a.roleId}` },
  };
}

/** A Keystone collection: `{<key>: [...], links: {self, previous, next}}`; Nubo never pages. */
export function collection<T>(key: string, items: T[], selfUrl: string) {
  return { [key]: items, links: { self: selfUrl, previous: null, next: null } };
}
