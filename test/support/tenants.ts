/** Creates throw-away projects with a member user each, through the Keystone API. */
import { OpenStackClient } from '@nubo/client';
import { randomUUID } from 'node:crypto';

export interface Tenant {
  projectId: string;
  userId: string;
  client: OpenStackClient;
}

export async function createTenant(admin: OpenStackClient, prefix: string): Promise<Tenant> {
  const suffix = randomUUID().slice(0, 8);
  const name = `${prefix}-${suffix}`;
  const password = randomUUID();
  const project = (await admin.call('POST', '/identity/v3/projects', 201, { project: { name, domain_id: 'default' } })).project;
  const user = (
    await admin.call('POST', '/identity/v3/users', 201, {
      user: { name, password, domain_id: 'default', default_project_id: project.id },
    })
  ).user;
  const roles = (await admin.call('GET', '/identity/v3/roles?name=member', 200)).roles;
  await admin.call('PUT', `/identity/v3/projects/${project.id}/users/${user.id}/roles/${roles[0].id}`, 204);
  const client = await new OpenStackClient({ authUrl: `${admin.baseUrl}/identity/v3`, username: name, password, projectName: name }).login();
  return { projectId: project.id, userId: user.id, client };
}

export async function deleteTenant(admin: OpenStackClient, tenant: Tenant): Promise<void> {
  await admin.request('DELETE', `/identity/v3/users/${tenant.userId}`);
  await admin.request('DELETE', `/identity/v3/projects/${tenant.projectId}`);
}
