import { NoValidHostError, ValidationError } from '@nubo/contracts';
import { FlavorEntity, ServerEntity } from '@nubo/database';
import { RpcClient } from '@nubo/messaging';
import { DataSource } from 'typeorm';
import { SchedulerConfig } from '../config';
import { InstanceSpecBuilder, acceleratorOf, diskBusOf, guestFields } from './instance-spec.builder';

describe('acceleratorOf', () => {
  it.each([
    [undefined, undefined],
    [{}, undefined],
    [{ hypervisor_type: '' }, undefined],
    [{ hypervisor_type: 'qemu' }, 'tcg'],
    [{ hypervisor_type: 'QEMU' }, 'tcg'],
    [{ hypervisor_type: 'kvm' }, 'kvm'],
    [{ hypervisor_type: ' KVM ' }, 'kvm'],
    [{ os_distro: 'debian' }, undefined],
  ])('image properties %j ask for %s', (properties, expected) => {
    expect(acceleratorOf('img-1', properties)).toBe(expected);
  });

  it.each([['xen'], ['hyperv'], [42]])('answers NoValidHost for hypervisor_type %j, naming the image', (value) => {
    expect(() => acceleratorOf('img-1', { hypervisor_type: value })).toThrow(NoValidHostError);
    expect(() => acceleratorOf('img-1', { hypervisor_type: value })).toThrow(/Image img-1 asks for hypervisor_type/);
  });
});

describe('diskBusOf', () => {
  it.each([
    [undefined, undefined],
    [{}, undefined],
    [{ hw_disk_bus: '' }, undefined],
    [{ hw_disk_bus: 'virtio' }, 'virtio'],
    [{ hw_disk_bus: 'scsi' }, 'scsi'],
  ])('image properties %j ask for %s', (properties, expected) => {
    expect(diskBusOf('img-1', properties)).toBe(expected);
  });

  it.each([['ide'], ['sata'], ['SCSI'], [1]])('refuses hw_disk_bus %j, naming the property', (value) => {
    expect(() => diskBusOf('img-1', { hw_disk_bus: value })).toThrow(ValidationError);
    expect(() => diskBusOf('img-1', { hw_disk_bus: value })).toThrow(expect.objectContaining({ details: { field: 'hw_disk_bus' } }));
  });
});

describe('guestFields', () => {
  const server = { name: 'web,1\n--help', metadata: {}, flavor: { vcpus: 4, ramMb: 512, diskGb: 1, name: 'm1' } };

  it.each([
    ['only the name, for a plain flavor and no metadata', server, {}, { name: 'web,1\n--help' }],
    ['the metadata when there is some', { ...server, metadata: { role: 'db' } }, {}, { name: server.name, metadata: { role: 'db' } }],
    ['the ephemeral disk', server, { ephemeralGb: 2 }, { name: server.name, ephemeralGb: 2 }],
    ['no ephemeral disk of 0 GB', server, { ephemeralGb: 0 }, { name: server.name }],
    ['a derived topology', server, { extraSpecs: { 'hw:cpu_sockets': '2' } }, { name: server.name, topology: { sockets: 2, cores: 2, threads: 1 } }],
    ['no topology for unrelated extra specs', server, { extraSpecs: { 'quota:cpu_quota': '10' } }, { name: server.name }],
    ['disks on shared storage', server, { extraSpecs: { 'nubo:storage': 'shared' } }, { name: server.name, storage: 'shared' }],
    ['local storage as the default', server, { extraSpecs: { 'nubo:storage': 'local' } }, { name: server.name }],
  ])('gives %s', (_what, row, flavor, expected) => {
    expect(guestFields(row, flavor)).toEqual(expected);
  });

  it('names the extra spec whose topology cannot make the vCPUs', () => {
    expect(() => guestFields(server, { extraSpecs: { 'hw:cpu_sockets': '3' } })).toThrow(expect.objectContaining({ details: { field: 'hw:cpu_sockets' } }));
  });
});

describe(InstanceSpecBuilder.name, () => {
  const flavorRow = { id: 'f1', ephemeralGb: 3, extraSpecs: { 'hw:cpu_threads': '2' } } as unknown as FlavorEntity;
  const server = {
    id: '6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b',
    name: 'vm',
    metadata: { k: 'v' },
    flavorId: 'f1',
    flavor: { vcpus: 2, ramMb: 64, diskGb: 1, name: 'm1' },
    imageRef: null,
    projectId: 'p1',
    requestId: 'req-1',
  } as unknown as ServerEntity;

  function builder(row: FlavorEntity | null, nics: unknown = null) {
    const lookups: unknown[] = [];
    const db = {
      getRepository: () => ({ findOneBy: async (where: unknown) => (lookups.push(where), row) }),
      query: async () => [{ nics }],
    } as unknown as DataSource;
    return { builder: new InstanceSpecBuilder({} as RpcClient, {} as SchedulerConfig, db), lookups };
  }

  it('reads the ephemeral disk and extra specs of the flavors row when the server does not embed them', async () => {
    const { builder: b, lookups } = builder(flavorRow);
    expect(await b.build(server)).toEqual({
      serverId: server.id,
      vcpus: 2,
      ramMb: 64,
      diskGb: 1,
      name: 'vm',
      metadata: { k: 'v' },
      ephemeralGb: 3,
      topology: { sockets: 1, cores: 1, threads: 2 },
    });
    expect(lookups).toEqual([{ id: 'f1' }]);
  });

  it('prefers what the server embeds (the flavor as it was at create time)', async () => {
    const { builder: b, lookups } = builder(flavorRow);
    const embedded = { ...server, flavor: { ...server.flavor, ephemeralGb: 0, extraSpecs: {} } } as unknown as ServerEntity;
    const spec = await b.build(embedded);
    expect(spec).not.toHaveProperty('ephemeralGb');
    expect(spec).not.toHaveProperty('topology');
    expect(lookups).toEqual([]);
  });

  it('boots the NICs the server\'s ports were bound with, in order', async () => {
    const nics = [
      { mac: 'fa:16:3e:00:00:01', tap: 'nt-0123456789ab', mtu: 1450 },
      { mac: 'fa:16:3e:00:00:02', tap: 'nt-ba9876543210', mtu: 1500 },
    ];
    expect((await builder(null, nics).builder.build(server)).nics).toEqual(nics);
    expect(await builder(null, null).builder.build(server)).not.toHaveProperty('nics');
  });

  it('builds a plain spec when the flavor row is gone', async () => {
    const { builder: b } = builder(null);
    expect(await b.build(server)).toEqual({ serverId: server.id, vcpus: 2, ramMb: 64, diskGb: 1, name: 'vm', metadata: { k: 'v' } });
  });
});
