import { DecisionRow, placementDecisionView } from './placement-views';

const at = new Date('2026-01-02T03:04:05.678Z');
const row = (o: Partial<DecisionRow>): DecisionRow => ({
  attempt: 1,
  request_id: 'req-1',
  host_id: 'h1',
  explanation: null,
  failure: null,
  failed_at: null,
  created_at: at,
  ...o,
});

describe('placementDecisionView', () => {
  it.each<[string, DecisionRow, Record<string, unknown>]>([
    [
      'a decision that placed the server',
      row({
        explanation: {
          filters: [{ name: 'RamFilter', in: 3, removed: { h3: 'RAM: 0 MB free, 512 MB wanted' } }],
          weighed: [{ host: 'h1', total: 1, weights: { RAMWeigher: 1 } }, { host: 'h2', total: 0, weights: { RAMWeigher: 0 } }],
          chosen: 'h1',
        },
      }),
      {
        attempt: 1,
        request_id: 'req-1',
        created_at: '2026-01-02T03:04:05.678Z',
        host: 'h1',
        filters: [{ name: 'RamFilter', hosts_in: 3, removed: { h3: 'RAM: 0 MB free, 512 MB wanted' } }],
        weighed: [
          { host: 'h1', total: 1, weights: { RAMWeigher: 1 } },
          { host: 'h2', total: 0, weights: { RAMWeigher: 0 } },
        ],
        no_valid_host: null,
        spawn_failure: null,
      },
    ],
    [
      'a decision whose spawn failed, with lists cut short',
      row({
        attempt: 2,
        failure: 'disk full',
        failed_at: '2026-01-02T03:04:06.000Z',
        explanation: { filters: [{ name: 'RamFilter', in: 300, removed: {}, removedOmitted: 200 }], weighed: [], chosen: 'h1', weighedOmitted: 80, notExamined: 700 },
      }),
      {
        attempt: 2,
        request_id: 'req-1',
        created_at: '2026-01-02T03:04:05.678Z',
        host: 'h1',
        filters: [{ name: 'RamFilter', hosts_in: 300, removed: {}, removed_not_listed: 200 }],
        weighed: [],
        weighed_not_listed: 80,
        hosts_not_examined: 700,
        no_valid_host: null,
        spawn_failure: { reason: 'disk full', at: '2026-01-02T03:04:06.000Z' },
      },
    ],
    [
      'no valid host',
      row({ host_id: null, explanation: { filters: [], weighed: [], chosen: null, noValidHost: 'There are not enough hosts available.' } }),
      {
        attempt: 1,
        request_id: 'req-1',
        created_at: '2026-01-02T03:04:05.678Z',
        host: null,
        filters: [],
        weighed: [],
        no_valid_host: 'There are not enough hosts available.',
        spawn_failure: null,
      },
    ],
    [
      'a failure recorded without a decision',
      row({ failure: 'boom', failed_at: at }),
      {
        attempt: 1,
        request_id: 'req-1',
        created_at: '2026-01-02T03:04:05.678Z',
        host: 'h1',
        filters: [],
        weighed: [],
        no_valid_host: null,
        spawn_failure: { reason: 'boom', at: '2026-01-02T03:04:05.678Z' },
      },
    ],
  ])('%s', (_what, input, expected) => {
    expect(placementDecisionView(input)).toEqual(expected);
  });
});
