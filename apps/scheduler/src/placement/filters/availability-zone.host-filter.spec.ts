import { candidate, placementRequest } from '../placement-fixtures';
import { AvailabilityZoneFilter } from './availability-zone.host-filter';

describe(AvailabilityZoneFilter.name, () => {
  const filter = new AvailabilityZoneFilter();
  it.each([
    ['no zone asked: any host', null, 'az1', null],
    ['the zone asked', 'az1', 'az1', null],
    ['the default zone asked, host in it', 'nova', 'nova', null],
    ['another zone', 'az1', 'nova', 'AvailabilityZone: host is in zone nova, az1 requested'],
    ['zone names are case-sensitive', 'AZ1', 'az1', 'AvailabilityZone: host is in zone az1, AZ1 requested'],
  ])('%s', (_what, wanted, zone, expected) => {
    expect(filter.reject(candidate('h1', { zone }), placementRequest({ availabilityZone: wanted }))).toBe(expected);
  });
});
