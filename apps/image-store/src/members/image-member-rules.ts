/**
 * Glance's image member rules, on an image the caller can already see (anything unseen is a 404
 * before these run): only `shared` images have members; the owner (or an admin) adds, lists and
 * removes them; a member sees only its own entry and is the only one (with admins) to set its
 * status. Messages are Glance's.
 */
import { ForbiddenError, IMAGE_MEMBER_STATUSES, ImageCaller, ImageMemberStatus, NotFoundError, ValidationError } from '@nubo/contracts';
import { isOwner } from '../images/image-access';

interface SharedImage {
  id: string;
  projectId: string;
  visibility: string;
}

export type MemberAction = 'list' | 'get' | 'create' | 'update' | 'delete';

/** Glance's image_member_quota default. */
export const MAX_MEMBERS_PER_IMAGE = 128;

const notAllowed = (action: Exclude<MemberAction, 'get'>, imageId: string) =>
  new ForbiddenError(`Not allowed to ${action} members for image ${imageId}.`);

export const memberNotFound = (memberId: string, imageId: string) =>
  new NotFoundError(`${memberId} not found in the member list of the image ${imageId}.`);

/**
 * Throws Glance's refusal of `action` by `caller`, or returns whose entries it covers: 'all'
 * (owner, admin) or 'own' (a member). `memberId` is the entry a get, update or delete names.
 */
export function authorizeMemberAction(action: MemberAction, image: SharedImage, caller: ImageCaller, memberId?: string): 'all' | 'own' {
  if (image.visibility !== 'shared') {
    // Glance hides this from readers of one entry (404) and refuses the rest (403).
    if (action === 'get') throw new NotFoundError('Only shared images have members.');
    if (action === 'list') throw new ForbiddenError(`Not allowed to list members for image ${image.id}: Only shared images have members.`);
    throw notAllowed(action, image.id);
  }
  const owner = isOwner(image, caller);
  switch (action) {
    case 'list':
      return owner ? 'all' : 'own';
    case 'get':
      if (!owner && memberId !== caller.projectId) throw memberNotFound(memberId ?? '', image.id);
      return owner ? 'all' : 'own';
    case 'update':
      // The owner offers, the member answers: only the member (or an admin) sets the status.
      if (!caller.isAdmin && memberId !== caller.projectId) throw notAllowed('update', image.id);
      return caller.isAdmin ? 'all' : 'own';
    case 'create':
    case 'delete':
      if (!owner) throw notAllowed(action, image.id);
      return 'all';
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** POST /v2/images/{id}/members: `{"member": "<project id>"}` (other keys are ignored, as in Glance). */
export function parseMemberCreateBody(body: unknown): string {
  if (!isObject(body)) throw new ValidationError('Expected a member in the form: {"member": "image_id"}', 'member');
  if (!('member' in body)) throw new ValidationError('Member to be added not specified', 'member');
  const member = body.member;
  if (member === null || member === '') throw new ValidationError("Member can't be empty", 'member');
  if (typeof member !== 'string' || member.length > 255 || member.trim() !== member) {
    throw new ValidationError(`Invalid member ${JSON.stringify(member)}: a project id of 1 to 255 characters`, 'member');
  }
  return member;
}

/** PUT /v2/images/{id}/members/{member}: `{"status": "pending" | "accepted" | "rejected"}`. */
export function parseMemberUpdateBody(body: unknown): ImageMemberStatus {
  if (!isObject(body)) throw new ValidationError('Expected a status in the form: {"status": "status"}', 'status');
  if (!('status' in body)) throw new ValidationError('Status not specified', 'status');
  if (!(IMAGE_MEMBER_STATUSES as readonly unknown[]).includes(body.status)) {
    throw new ValidationError('Incorrect request: Status must be "pending", "accepted" or "rejected".', 'status');
  }
  return body.status as ImageMemberStatus;
}
