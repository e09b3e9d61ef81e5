import { ForbiddenError, NotFoundError, ValidationError } from '@nubo/contracts';
import { canSee } from '../images/image-access';
import { MemberAction, authorizeMemberAction, parseMemberCreateBody, parseMemberUpdateBody } from './image-member-rules';

const owner = { projectId: 'p-owner' };
const admin = { projectId: 'p-admin', isAdmin: true };
const member = { projectId: 'p-member' };
const stranger = { projectId: 'p-other' };
const image = (visibility: string) => ({ id: 'img', projectId: 'p-owner', visibility });

describe('canSee', () => {
  it.each([
    ['the owner, always', 'private', owner, null, false, true],
    ['an admin, always', 'private', admin, null, false, true],
    ['anyone, a public image', 'public', stranger, null, false, true],
    ['anyone, a community image', 'community', stranger, null, false, true],
    ['an accepted member, a shared image', 'shared', member, 'accepted', false, true],
    ['a pending member, a shared image: no', 'shared', member, 'pending', false, false],
    ['a rejected member, a shared image: no', 'shared', member, 'rejected', false, false],
    ['a pending member, for Glance show', 'shared', member, 'pending', true, true],
    ['a rejected member, for Glance show', 'shared', member, 'rejected', true, true],
    ['a non-member, a shared image: no', 'shared', stranger, null, true, false],
    ['an accepted member of a private image: members ignored', 'private', member, 'accepted', true, false],
  ] as const)('lets %s see it', (_name, visibility, caller, membership, anyMemberStatus, expected) => {
    expect(canSee(image(visibility), caller, membership, { anyMemberStatus })).toBe(expected);
  });
});

describe('authorizeMemberAction', () => {
  it.each([
    ['the owner lists every member', 'list', owner, undefined, 'all'],
    ['an admin lists every member', 'list', admin, undefined, 'all'],
    ['a member lists its own entry only', 'list', member, undefined, 'own'],
    ['the owner reads any entry', 'get', owner, 'p-member', 'all'],
    ['a member reads its own entry', 'get', member, 'p-member', 'own'],
    ['the owner adds a member', 'create', owner, 'p-member', 'all'],
    ['an admin adds a member', 'create', admin, 'p-member', 'all'],
    ['the owner removes a member', 'delete', owner, 'p-member', 'all'],
    ['a member answers for itself', 'update', member, 'p-member', 'own'],
    ['an admin answers for a member', 'update', admin, 'p-member', 'all'],
  ] as const)('allows: %s', (_name, action, caller, memberId, scope) => {
    expect(authorizeMemberAction(action, image('shared'), caller, memberId)).toBe(scope);
  });

  it.each([
    ['the owner setting a member status', 'update', owner, 'p-member', ForbiddenError, 'Not allowed to update members for image img.'],
    ['a member setting another member status', 'update', member, 'p-third', ForbiddenError, 'Not allowed to update members for image img.'],
    ['a member adding members', 'create', member, 'p-third', ForbiddenError, 'Not allowed to create members for image img.'],
    ['a member removing itself', 'delete', member, 'p-member', ForbiddenError, 'Not allowed to delete members for image img.'],
    ['a member reading another entry', 'get', member, 'p-third', NotFoundError, 'p-third not found in the member list of the image img.'],
  ] as const)('refuses %s', (_name, action, caller, memberId, type, message) => {
    expect(() => authorizeMemberAction(action, image('shared'), caller, memberId)).toThrow(type);
    expect(() => authorizeMemberAction(action, image('shared'), caller, memberId)).toThrow(message);
  });

  it.each([
    ['list', ForbiddenError, 'Not allowed to list members for image img: Only shared images have members.'],
    ['get', NotFoundError, 'Only shared images have members.'],
    ['create', ForbiddenError, 'Not allowed to create members for image img.'],
    ['update', ForbiddenError, 'Not allowed to update members for image img.'],
    ['delete', ForbiddenError, 'Not allowed to delete members for image img.'],
  ] as const)('answers %s on an image that is not shared like Glance', (action: MemberAction, type, message) => {
    for (const visibility of ['private', 'public', 'community']) {
      expect(() => authorizeMemberAction(action, image(visibility), owner, 'p-member')).toThrow(type);
      expect(() => authorizeMemberAction(action, image(visibility), owner, 'p-member')).toThrow(message);
    }
  });
});

describe('member bodies', () => {
  it('reads the member to add and the status to set', () => {
    expect(parseMemberCreateBody({ member: 'p2', ignored: 1 })).toBe('p2');
    expect(parseMemberUpdateBody({ status: 'accepted' })).toBe('accepted');
    expect(parseMemberUpdateBody({ status: 'pending' })).toBe('pending');
  });

  it.each([
    ['a list', () => parseMemberCreateBody(['p2']), 'member', /Expected a member/],
    ['no member', () => parseMemberCreateBody({}), 'member', /Member to be added not specified/],
    ['an empty member', () => parseMemberCreateBody({ member: '' }), 'member', /Member can't be empty/],
    ['a numeric member', () => parseMemberCreateBody({ member: 5 }), 'member', /Invalid member/],
    ['a member too long', () => parseMemberCreateBody({ member: 'p'.repeat(256) }), 'member', /Invalid member/],
    ['a status body that is not an object', () => parseMemberUpdateBody('accepted'), 'status', /Expected a status/],
    ['no status', () => parseMemberUpdateBody({}), 'status', /Status not specified/],
    ['an unknown status', () => parseMemberUpdateBody({ status: 'maybe' }), 'status', /Status must be "pending", "accepted" or "rejected"/],
  ])('refuses %s with 400 naming the field', (_name, parse, field, message) => {
    let error: unknown;
    try {
      parse();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).details.field).toBe(field);
    expect((error as Error).message).toMatch(message);
  });
});
