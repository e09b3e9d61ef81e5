import { ValidationError } from '@nubo/contracts';
import { parseServerListQuery } from './server-list-query';

const member = { projectId: 'p1', isAdmin: false };
const admin = { projectId: 'adm', isAdmin: true };

describe('parseServerListQuery', () => {
  it('scopes a member to its project whatever it asks', () => {
    const q = parseServerListQuery({ all_tenants: '1', project_id: 'p2', host: 'h1' }, member);
    expect(q.where).toEqual(['s.deleted_at IS NULL', 's.project_id = $1']);
    expect(q.params).toEqual(['p1']);
  });

  it('lets admins list all projects, one project, or one host', () => {
    expect(parseServerListQuery({ all_tenants: '1' }, admin).params).toEqual([]);
    expect(parseServerListQuery({ all_tenants: 'True', project_id: 'p2', host: 'h1' }, admin).params).toEqual(['p2', 'h1']);
    expect(parseServerListQuery({}, admin).params).toEqual(['adm']);
  });

  it.each([
    [{ status: 'ACTIVE' }, 'active'],
    [{ status: 'shutoff' }, 'stopped'],
    [{ status: 'BUILD' }, 'building'],
  ])('maps status %j', (query, vmState) => {
    expect(parseServerListQuery(query, member).params).toContain(vmState);
  });

  it.each([
    [{ status: 'FLYING' }, 'status'],
    [{ limit: '-1' }, 'limit'],
    [{ limit: 'ten' }, 'limit'],
    [{ marker: 'nope' }, 'marker'],
    [{ 'changes-since': 'yesterday' }, 'changes-since'],
    [{ name: ['a', 'b'] }, 'name'],
  ])('refuses %j naming %s', (query, field) => {
    try {
      parseServerListQuery(query as Record<string, unknown>, member);
      throw new Error('accepted');
    } catch (error) {
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).details.field).toBe(field);
    }
  });

  it('caps the limit at 1000', () => {
    expect(parseServerListQuery({ limit: '5000' }, member).limit).toBe(1000);
    expect(parseServerListQuery({ limit: '3' }, member).limit).toBe(3);
  });
});
