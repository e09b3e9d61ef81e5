import { AggregateRecord, aggregateView, createdAggregateView } from './aggregate-view';

const record = (o: Partial<AggregateRecord> = {}): AggregateRecord => ({
  id: 3,
  uuid: '7f1c9d52-5a1b-4c0e-9a57-6a1c2b3d4e5f',
  name: 'agg1',
  availabilityZone: 'az1',
  metadata: { ssd: 'true' },
  hosts: ['nubo-h1'],
  createdAt: new Date('2024-11-25T12:00:00.123Z'),
  updatedAt: null,
  deletedAt: null,
  ...o,
});

describe('aggregate views', () => {
  it('shows Nova 2.1\'s aggregate: the zone also in metadata, no uuid, zone-less timestamps', () => {
    expect(aggregateView(record())).toEqual({
      availability_zone: 'az1',
      created_at: '2024-11-25T12:00:00.123000',
      deleted: false,
      deleted_at: null,
      hosts: ['nubo-h1'],
      id: 3,
      metadata: { ssd: 'true', availability_zone: 'az1' },
      name: 'agg1',
      updated_at: null,
    });
  });

  it.each([
    [{ availabilityZone: null }, { availability_zone: null, metadata: { ssd: 'true' } }],
    [{ availabilityZone: null, metadata: {} }, { metadata: {} }],
    [{ updatedAt: new Date('2024-11-26T00:00:00Z') }, { updated_at: '2024-11-26T00:00:00.000000' }],
    [{ hosts: [] }, { hosts: [] }],
  ])('with %j shows %j', (changes, expected) => {
    expect(aggregateView(record(changes))).toMatchObject(expected);
  });

  it('answers a create without hosts and metadata, as Nova does', () => {
    const view = createdAggregateView(record({ hosts: [], metadata: {} }));
    expect(Object.keys(view).sort()).toEqual(['availability_zone', 'created_at', 'deleted', 'deleted_at', 'id', 'name', 'updated_at']);
  });
});
