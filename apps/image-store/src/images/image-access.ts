/**
 * Who sees and who changes an image, as Glance decides: admins everything; a project its own
 * images; everyone public and community images; the members of a `shared` image once they have
 * accepted it (a member whose answer is pending or rejected sees it only where Glance's show needs
 * it: `anyMemberStatus`). Members of an image that is not `shared` are ignored. Anything not
 * visible answers 404, never 403 (invariant 5).
 */
import { ImageCaller, ImageMemberStatus } from '@nubo/contracts';

interface Owned {
  projectId: string;
  visibility: string;
}

/** The caller's membership of an image: its member status, or null when it is no member. */
export type Membership = ImageMemberStatus | null;

export interface SeeOptions {
  /** Glance's show (and member calls): a member sees the image whatever its status. */
  anyMemberStatus?: boolean;
}

/** True when `caller` owns the image or is an admin: the rights Glance gives the image's owner. */
export function isOwner(image: Owned, caller: ImageCaller): boolean {
  return !!caller.isAdmin || image.projectId === caller.projectId;
}

export function canSee(image: Owned, caller: ImageCaller, membership: Membership = null, options: SeeOptions = {}): boolean {
  if (isOwner(image, caller) || image.visibility === 'public' || image.visibility === 'community') return true;
  if (image.visibility !== 'shared' || membership === null) return false;
  return membership === 'accepted' || !!options.anyMemberStatus;
}

/** Visible but not theirs (a public image of another project, a shared one): Glance answers 403 to changes. */
export function canModify(image: Owned, caller: ImageCaller): boolean {
  return isOwner(image, caller);
}

/**
 * SQL condition for what a list shows (community images only to their owner by default, shared
 * images to members whose status is in `memberStatuses`, as in Glance), with `$n` placeholders
 * appended to `params`.
 */
export function visibleInListSql(
  alias: string,
  caller: ImageCaller,
  visibility: string | undefined,
  memberStatuses: readonly string[],
  params: unknown[],
): string {
  if (caller.isAdmin) {
    if (!visibility || visibility === 'all') return 'true';
    params.push(visibility);
    return `${alias}.visibility = $${params.length}`;
  }
  params.push(caller.projectId);
  const me = `$${params.length}`;
  const mine = `${alias}.project_id = ${me}`;
  const member = () => {
    params.push(memberStatuses);
    return `(${alias}.visibility = 'shared' AND EXISTS (SELECT 1 FROM image.image_members m WHERE m.image_id = ${alias}.id AND m.member = ${me} AND m.status = ANY($${params.length}::text[])))`;
  };
  switch (visibility) {
    case undefined:
      return `(${mine} OR ${alias}.visibility = 'public' OR ${member()})`;
    case 'all':
      return `(${mine} OR ${alias}.visibility IN ('public', 'community') OR ${member()})`;
    case 'public':
    case 'community':
      params.push(visibility);
      return `${alias}.visibility = $${params.length}`;
    case 'shared':
      return `((${mine} AND ${alias}.visibility = 'shared') OR ${member()})`;
    default:
      params.push(visibility);
      return `(${mine} AND ${alias}.visibility = $${params.length})`;
  }
}
