/** Glance v2's image member bodies (/v2/schemas/member, /v2/schemas/members). */
import type { ImageMemberRecord } from '@nubo/contracts';

/** Glance's timestamps have no fraction: 2015-11-29T22:21:42Z. */
const glanceTime = (iso: string) => iso.replace(/\.\d+Z$/, 'Z');

export function memberView(m: ImageMemberRecord): Record<string, unknown> {
  return {
    created_at: glanceTime(m.createdAt),
    image_id: m.imageId,
    member_id: m.memberId,
    schema: '/v2/schemas/member',
    status: m.status,
    updated_at: glanceTime(m.updatedAt),
  };
}

export function memberListView(members: ImageMemberRecord[]): Record<string, unknown> {
  return { members: members.map(memberView), schema: '/v2/schemas/members' };
}
