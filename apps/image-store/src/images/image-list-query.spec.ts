import { ValidationError } from '@nubo/contracts';
import { afterMarkerSql, listWhereSql, orderBySql, parseListQuery } from './image-list-query';

describe('image list query', () => {
  describe('parseListQuery', () => {
    it('defaults to 25 images, newest first, ids breaking ties, hidden images left out', () => {
      expect(parseListQuery({})).toMatchObject({
        limit: 25,
        sort: [{ key: 'created_at', dir: 'desc' }, { key: 'id', dir: 'desc' }],
        hidden: false,
        columns: [],
        properties: [],
      });
    });

    it.each([
      ['limit caps at 1000', { limit: '5000' }, { limit: 1000 }],
      ['sort_key and sort_dir', { sort_key: 'name', sort_dir: 'asc' }, { sort: [{ key: 'name', dir: 'asc' }, { key: 'id', dir: 'asc' }] }],
      ['sort with several keys', { sort: 'status:asc,name' }, { sort: [{ key: 'status', dir: 'asc' }, { key: 'name', dir: 'desc' }, { key: 'id', dir: 'desc' }] }],
      ['name and status filters', { name: 't1', status: 'active' }, { columns: [{ column: 'name', values: ['t1'] }, { column: 'status', values: ['active'] }] }],
      ['in: lists', { id: 'in:a,b' }, { columns: [{ column: 'id', values: ['a', 'b'] }] }],
      ['owner', { owner: 'p2' }, { columns: [{ column: 'project_id', values: ['p2'] }] }],
      ['os_hidden=true (as openstacksdk sends it)', { os_hidden: 'True' }, { hidden: true }],
      ['protected', { protected: 'false' }, { booleans: [{ column: 'protected', value: false }] }],
      ['tags', { tag: ['a', 'b'] }, { tags: ['a', 'b'] }],
      ['sizes', { size_min: '10', size_max: '20' }, { sizeMin: 10, sizeMax: 20 }],
      ['other parameters filter on properties', { os_distro: 'cirros' }, { properties: [{ key: 'os_distro', value: 'cirros' }] }],
      ['the last of repeated single values', { name: ['a', 'b'] }, { columns: [{ column: 'name', values: ['b'] }] }],
      ['accepted memberships by default', {}, { memberStatuses: ['accepted'] }],
      ['member_status=pending', { member_status: 'pending' }, { memberStatuses: ['pending'] }],
      ['member_status=all', { member_status: 'all' }, { memberStatuses: ['pending', 'accepted', 'rejected'] }],
    ])('reads %s', (_name, query, expected) => {
      expect(parseListQuery(query)).toMatchObject(expected);
    });

    it.each([
      ['a negative limit', { limit: '-1' }, /limit/],
      ['a word as limit', { limit: 'ten' }, /limit/],
      ['an unknown sort key', { sort_key: 'password' }, /Invalid sort key: password/],
      ['an unknown sort direction', { sort_key: 'name', sort_dir: 'up' }, /Invalid sort direction: up/],
      ['sort with sort_key', { sort: 'name', sort_key: 'name' }, /not supported with 'sort_key'/],
      ['an unknown visibility', { visibility: 'everyone' }, /Invalid visibility value/],
      ['an unknown status', { status: 'happy' }, /Invalid status value/],
      ['a non-boolean protected', { protected: 'maybe' }, /true or false/],
      ['time filters', { created_at: 'gt:2020-01-01T00:00:00Z' }, /not supported/],
      ['an unknown member status', { member_status: 'maybe' }, /Invalid status: maybe/],
    ])('refuses %s', (_name, query, message) => {
      expect(() => parseListQuery(query)).toThrow(ValidationError);
      expect(() => parseListQuery(query)).toThrow(message);
    });
  });

  describe('listWhereSql', () => {
    const member = (statuses: string) =>
      `(i.visibility = 'shared' AND EXISTS (SELECT 1 FROM image.image_members m WHERE m.image_id = i.id AND m.member = $1 AND m.status = ANY(${statuses}::text[])))`;
    it.each([
      ['a member by default: own, public, and shared with it once accepted', { projectId: 'p1' }, {}, `(i.project_id = $1 OR i.visibility = 'public' OR ${member('$2')})`, ['p1', ['accepted']]],
      ['a member asking for every visibility', { projectId: 'p1' }, { visibility: 'all', member_status: 'all' }, `(i.project_id = $1 OR i.visibility IN ('public', 'community') OR ${member('$2')})`, ['p1', ['pending', 'accepted', 'rejected']]],
      ['a member asking for shared images still pending', { projectId: 'p1' }, { visibility: 'shared', member_status: 'pending' }, `((i.project_id = $1 AND i.visibility = 'shared') OR ${member('$2')})`, ['p1', ['pending']]],
      ['a member asking for community images', { projectId: 'p1' }, { visibility: 'community' }, 'i.visibility = $2', ['p1', 'community']],
      ['a member asking for private images: only its own', { projectId: 'p1' }, { visibility: 'private' }, '(i.project_id = $1 AND i.visibility = $2)', ['p1', 'private']],
      ['an admin by default: everything', { projectId: 'a', isAdmin: true }, {}, 'true', []],
    ])('shows %s', (_name, caller, query, visible, params) => {
      const out: unknown[] = [];
      const sql = listWhereSql(parseListQuery(query), caller, out);
      expect(sql).toContain(visible);
      expect(sql).toContain('i.deleted_at IS NULL');
      expect(out.slice(0, params.length)).toEqual(params);
    });
  });

  it('pages after the marker in the sort order', () => {
    const spec = parseListQuery({ sort: 'name:asc' });
    expect(orderBySql(spec)).toBe('i.name ASC, i.id ASC');
    const sql = afterMarkerSql(spec, '$9');
    expect(sql).toContain('(i.name > (SELECT m.name FROM image.images m WHERE m.id = $9))');
    expect(sql).toContain('i.name = (SELECT m.name FROM image.images m WHERE m.id = $9) AND i.id > (SELECT m.id FROM image.images m WHERE m.id = $9)');
  });
});
