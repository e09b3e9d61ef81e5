import { cpuTopologyOf } from './cpu-topology';
import { ValidationError } from './errors';

describe('cpuTopologyOf', () => {
  it.each([
    [4, undefined, undefined],
    [4, {}, undefined],
    [4, { 'hw:mem_page_size': 'large' }, undefined],
    [4, { 'hw:cpu_sockets': '' }, undefined],
    [4, { 'hw:cpu_sockets': '2' }, { sockets: 2, cores: 2, threads: 1 }],
    [4, { 'hw:cpu_sockets': '4' }, { sockets: 4, cores: 1, threads: 1 }],
    [4, { 'hw:cpu_cores': '2' }, { sockets: 2, cores: 2, threads: 1 }],
    [8, { 'hw:cpu_threads': '2' }, { sockets: 4, cores: 1, threads: 2 }],
    [8, { 'hw:cpu_sockets': '2', 'hw:cpu_threads': '2' }, { sockets: 2, cores: 2, threads: 2 }],
    [8, { 'hw:cpu_cores': '4', 'hw:cpu_threads': '2' }, { sockets: 1, cores: 4, threads: 2 }],
    [12, { 'hw:cpu_sockets': '2', 'hw:cpu_cores': '3', 'hw:cpu_threads': '2' }, { sockets: 2, cores: 3, threads: 2 }],
    [1, { 'hw:cpu_sockets': '1' }, { sockets: 1, cores: 1, threads: 1 }],
    [6, { 'hw:cpu_sockets': ' 3 ' }, { sockets: 3, cores: 2, threads: 1 }],
    [6, { 'hw:cpu_sockets': 3 }, { sockets: 3, cores: 2, threads: 1 }],
  ])('vcpus=%s with %j gives %j', (vcpus, specs, expected) => {
    const topology = cpuTopologyOf(vcpus, specs);
    expect(topology).toEqual(expected);
    if (topology) expect(topology.sockets * topology.cores * topology.threads).toBe(vcpus);
  });

  it.each([
    [4, { 'hw:cpu_sockets': '3' }, 'hw:cpu_sockets'],
    [4, { 'hw:cpu_threads': '8' }, 'hw:cpu_threads'],
    [8, { 'hw:cpu_sockets': '2', 'hw:cpu_cores': '3' }, 'hw:cpu_cores'],
    [8, { 'hw:cpu_sockets': '2', 'hw:cpu_cores': '2', 'hw:cpu_threads': '1' }, 'hw:cpu_threads'],
    [4, { 'hw:cpu_sockets': '0' }, 'hw:cpu_sockets'],
    [4, { 'hw:cpu_cores': '-2' }, 'hw:cpu_cores'],
    [4, { 'hw:cpu_cores': '2.5' }, 'hw:cpu_cores'],
    [4, { 'hw:cpu_threads': 'two' }, 'hw:cpu_threads'],
    [4, { 'hw:cpu_threads': true }, 'hw:cpu_threads'],
  ])('vcpus=%s with %j is a ValidationError naming %s', (vcpus, specs, field) => {
    expect(() => cpuTopologyOf(vcpus, specs)).toThrow(ValidationError);
    expect(() => cpuTopologyOf(vcpus, specs)).toThrow(expect.objectContaining({ details: { field } }));
  });
});
