/** POST /os-server-groups at 2.1: {"server_group": {"name", "policies": [one policy]}}. */
import { ServerGroupPolicy } from '@nubo/database';
import { invalid, onlyKeys, requireObject, requireString } from '../../common/validation';
import { atLeast } from '../microversion';
import { CreateGroupRequest } from './groups.service';

/** Nova 2.1 knows affinity and anti-affinity; the soft forms come with 2.15. */
export const POLICIES: ServerGroupPolicy[] = ['anti-affinity', 'affinity', 'soft-anti-affinity', 'soft-affinity'];
const POLICIES_2_1: ServerGroupPolicy[] = ['anti-affinity', 'affinity'];

export function parseCreateGroup(body: unknown, version = '2.15'): CreateGroupRequest {
  const allowed = atLeast(version, '2.15') ? POLICIES : POLICIES_2_1;
  const group = requireObject(requireObject(body, 'body').server_group, 'server_group');
  onlyKeys(group, 'server_group', ['name', 'policies']);
  const name = requireString(group, 'name', { min: 1, max: 255, trimmed: true });
  const policies = group.policies;
  if (policies === undefined) invalid('policies', policies, "'policies' is a required property");
  if (!Array.isArray(policies)) invalid('policies', policies, `${JSON.stringify(policies)} is not of type 'array'`);
  const list = policies as unknown[];
  if (list.length < 1) invalid('policies', list, '[] is too short');
  if (list.length > 1) invalid('policies', list, `${JSON.stringify(list)} is too long`);
  const policy = list[0];
  if (typeof policy !== 'string' || !allowed.includes(policy as ServerGroupPolicy)) {
    invalid('policies', policy, `${JSON.stringify(policy)} is not one of ${JSON.stringify(allowed)}`);
  }
  return { name, policy: policy as ServerGroupPolicy };
}
