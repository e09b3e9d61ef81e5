/**
 * Who sees and who changes an image, as Glance decides without members: admins everything; a
 * project its own images; everyone public and community images. Shared images are private until
 * image members exist. Anything not visible answers 404, never 403 (invariant 5).
 */
import { ImageCaller } from '@nubo/contracts';

interface Owned {
  projectId: string;
  visibility: string;
}

export function canSee(image: Owned, caller: ImageCaller): boolean {
  return !!caller.isAdmin || image.projectId === caller.projectId || image.visibility === 'public' || image.visibility === 'community';
}

/** Visible but not theirs (a public image of another project): Glance answers 403 to changes. */
export function canModify(image: Owned, caller: ImageCaller): boolean {
  return !!caller.isAdmin || image.projectId === caller.projectId;
}

/**
 * SQL condition for what a list shows by default (community images only to their owner, as in
 * Glance), with `$n` placeholders appended to `params`.
 */
export function visibleInListSql(alias: string, caller: ImageCaller, visibility: string | undefined, params: unknown[]): string {
  if (caller.isAdmin) {
    if (!visibility || visibility === 'all') return 'true';
    params.push(visibility);
    return `${alias}.visibility = $${params.length}`;
  }
  params.push(caller.projectId);
  const mine = `${alias}.project_id = $${params.length}`;
  switch (visibility) {
    case undefined:
      return `(${mine} OR ${alias}.visibility = 'public')`;
    case 'all':
      return `(${mine} OR ${alias}.visibility IN ('public', 'community'))`;
    case 'public':
    case 'community':
      params.push(visibility);
      return `${alias}.visibility = $${params.length}`;
    default:
      params.push(visibility);
      return `(${mine} AND ${alias}.visibility = $${params.length})`;
  }
}
