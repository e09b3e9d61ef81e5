import { memberListView, memberView } from './member-view';

const record = {
  imageId: '70a599e0-31e7-49b7-b260-868f441e862b',
  memberId: '8989447062e04a818baf9e073fd04fa7',
  status: 'pending' as const,
  createdAt: '2013-09-20T19:16:53.123Z',
  updatedAt: '2013-09-20T19:22:19.000Z',
};

describe('memberView', () => {
  it("writes Glance's member body, timestamps without fractions", () => {
    expect(memberView(record)).toEqual({
      created_at: '2013-09-20T19:16:53Z',
      image_id: record.imageId,
      member_id: record.memberId,
      schema: '/v2/schemas/member',
      status: 'pending',
      updated_at: '2013-09-20T19:22:19Z',
    });
  });

  it("writes Glance's member list", () => {
    expect(memberListView([record])).toEqual({ members: [memberView(record)], schema: '/v2/schemas/members' });
    expect(memberListView([])).toEqual({ members: [], schema: '/v2/schemas/members' });
  });
});
