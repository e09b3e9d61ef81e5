/**
 * Nova's 202 body for a rebuild at microversions 2.1 to 2.74: the server without the extended
 * attributes (no OS-EXT-*, OS-SRV-USG, availability zone, key name, security groups, volumes),
 * plus the admin password (CONF.api.enable_instance_password, on by default).
 */
import { ServerEntity } from '@nubo/database';
import { serverView, versionedServerFields } from './server-view';

const REBUILD_KEYS = [
  'id', 'name', 'status', 'tenant_id', 'user_id', 'metadata', 'hostId', 'image', 'flavor', 'created', 'updated',
  'addresses', 'accessIPv4', 'accessIPv6', 'links', 'OS-DCF:diskConfig', 'progress', 'fault',
];

/** `version`: 2.9 adds locked, 2.19 description, 2.26 tags. */
export function rebuildServerView(s: ServerEntity, baseUrl: string, adminPass: string, addresses?: Record<string, unknown>, version = '2.1'): Record<string, unknown> {
  const full = serverView(s, { baseUrl, isAdmin: false, addresses });
  const view = Object.fromEntries(REBUILD_KEYS.filter((k) => k in full).map((k) => [k, full[k]]));
  return { ...view, ...versionedServerFields(s, version), adminPass };
}
