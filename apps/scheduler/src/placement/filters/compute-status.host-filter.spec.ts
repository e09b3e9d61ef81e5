import { HostState } from '@nubo/contracts';
import { candidate } from '../placement-fixtures';
import { ComputeStatusFilter } from './compute-status.host-filter';

describe(ComputeStatusFilter.name, () => {
  const filter = new ComputeStatusFilter();
  it.each([
    ['an up host', {}, null],
    ['a down host', { state: HostState.Down }, 'Compute: host is down'],
    ['a fenced host', { state: HostState.Fenced }, 'Compute: host is fenced'],
    ['a host in maintenance', { state: HostState.Maintenance }, 'Compute: host is maintenance'],
    ['a disabled host', { state: HostState.Disabled, disabled: true }, 'Compute: host is disabled'],
    ['an up host an admin disabled', { disabled: true }, 'Compute: host is disabled'],
  ])('%s', (_what, host, expected) => {
    expect(filter.reject(candidate('h1', host))).toBe(expected);
  });
  it('is named as Nova names it', () => expect(filter.name).toBe('ComputeFilter'));
});
