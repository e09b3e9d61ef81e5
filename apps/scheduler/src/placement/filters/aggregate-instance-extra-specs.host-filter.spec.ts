import { candidate, placementRequest } from '../placement-fixtures';
import { AggregateInstanceExtraSpecsFilter } from './aggregate-instance-extra-specs.host-filter';

describe(AggregateInstanceExtraSpecsFilter.name, () => {
  const agg = (id: string, metadata: Record<string, string>) => ({ id, name: `agg-${id}`, metadata });
  const ssdHost = candidate('h1', { aggregates: [agg('1', { ssd: 'true', rack: 'r1' }), agg('2', { gpu: 'a100, h100' })] });
  const plainHost = candidate('h2');
  const scoped = (specs: Record<string, string>) => Object.fromEntries(Object.entries(specs).map(([k, v]) => [`aggregate_instance_extra_specs:${k}`, v]));

  it.each([
    ['no aggregate specs', plainHost, {}, null],
    ['unscoped keys are not aggregate specs here', plainHost, { ssd: 'true' }, null],
    ['other scopes are ignored', plainHost, { 'hw:cpu_cores': '2', 'trait:X': 'required' }, null],
    ['the value of one aggregate', ssdHost, scoped({ ssd: 'true' }), null],
    ['values from two aggregates together', ssdHost, scoped({ ssd: 'true', gpu: 'a100' }), null],
    ['one value of a comma-separated list', ssdHost, scoped({ gpu: 'h100' }), null],
    ['a value no aggregate has', ssdHost, scoped({ rack: 'r2' }), "AggregateInstanceExtraSpecs: rack=r2 wanted, the host's aggregates have r1"],
    ['a key no aggregate has', ssdHost, scoped({ numa: '2' }), 'AggregateInstanceExtraSpecs: no aggregate of the host has numa'],
    ['a host in no aggregate', plainHost, scoped({ ssd: 'true' }), 'AggregateInstanceExtraSpecs: no aggregate of the host has ssd'],
    ['operators are plain text', ssdHost, scoped({ gpu: '<or> a100 <or> h100' }), "AggregateInstanceExtraSpecs: gpu=<or> a100 <or> h100 wanted, the host's aggregates have a100, h100"],
    ['case matters', ssdHost, scoped({ ssd: 'True' }), "AggregateInstanceExtraSpecs: ssd=True wanted, the host's aggregates have true"],
  ])('%s', (_what, host, extraSpecs, expected) => {
    expect(new AggregateInstanceExtraSpecsFilter().reject(host, placementRequest({ extraSpecs }))).toBe(expected);
  });
});
