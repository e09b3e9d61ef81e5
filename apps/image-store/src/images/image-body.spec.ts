import { ForbiddenError, ValidationError } from '@nubo/contracts';
import { defaultImage, parseCreateBody } from './image-body';

const member = { projectId: 'p1', isAdmin: false };
const admin = { projectId: 'admin', isAdmin: true };

describe('parseCreateBody', () => {
  it('takes what openstack image create sends', () => {
    const body = {
      name: 't1', disk_format: 'qcow2', container_format: 'bare', visibility: 'private',
      'owner_specified.openstack.md5': '', 'owner_specified.openstack.sha256': '', 'owner_specified.openstack.object': 'images/t1',
    };
    expect(parseCreateBody(body, member)).toEqual({
      ...defaultImage(member), name: 't1', diskFormat: 'qcow2', containerFormat: 'bare', visibility: 'private',
      properties: { 'owner_specified.openstack.md5': '', 'owner_specified.openstack.sha256': '', 'owner_specified.openstack.object': 'images/t1' },
    });
  });

  it("defaults like Glance: shared, unprotected, the caller's project", () => {
    expect(parseCreateBody({}, member)).toMatchObject({ name: '', visibility: 'shared', protected: false, projectId: 'p1', diskFormat: null });
  });

  it('takes a caller-chosen id, normalised', () => {
    expect(parseCreateBody({ id: 'ABCDEF01-2345-4678-9ABC-DEF012345678' }, member).id).toBe('abcdef01-2345-4678-9abc-def012345678');
  });

  it('lets an admin create public images for another project', () => {
    expect(parseCreateBody({ visibility: 'public', owner: 'p2' }, admin)).toMatchObject({ visibility: 'public', projectId: 'p2' });
  });

  it.each([
    ['a list body', [], ValidationError, /JSON object/],
    ['a bad id', { id: 'nope' }, ValidationError, /valid UUID/],
    ['a read-only status', { status: 'active' }, ForbiddenError, /Attribute 'status' is read-only/],
    ['a read-only size', { size: 3 }, ForbiddenError, /read-only/],
    ['a reserved location', { locations: [] }, ForbiddenError, /reserved/],
    ['a VMDK disk format', { disk_format: 'vmdk' }, ValidationError, /'vmdk' is not one of \['raw', 'qcow2', 'iso'\]/],
    ['an OVF container', { container_format: 'ovf' }, ValidationError, /'ovf' is not one of \['bare'\]/],
    ['a public image from a member', { visibility: 'public' }, ForbiddenError, /publicize_image/],
    ["another project's image from a member", { owner: 'p2' }, ForbiddenError, /not permitted to create images owned by 'p2'/],
    ['min_ram as a string', { min_ram: '1' }, ValidationError, /integer/],
    ['a property that is not a string', { foo: 1 }, ValidationError, /is not of type 'string'/],
    ['too many properties', Object.fromEntries(Array.from({ length: 129 }, (_, i) => [`p${i}`, 'x'])), ValidationError, /Maximum number of image properties/],
    ['tags that are not strings', { tags: [1] }, ValidationError, /not a valid tag/],
  ])('refuses %s', (_name, body, type, message) => {
    let error: unknown;
    try {
      parseCreateBody(body, member);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(type);
    expect((error as Error).message).toMatch(message);
  });
});
