import { ForbiddenError, ValidationError } from '@nubo/contracts';
import { validationFieldOf } from '@nubo/testing';
import { AuthContext } from '../../common/auth-context';
import { HostRow } from '../hypervisors/host-inventory';
import { parseZoneRequest, requestedZone, resolveServerZone, serverZone, zoneDetail, zoneList, zonesOf } from './zones';

const now = new Date('2024-11-25T12:00:00Z');

function host(id: string, zone: string, state = 'up'): HostRow {
  return {
    hypervisorId: Number(id.replace(/\D/g, '')), id, state, accelerator: 'kvm', vcpus: 4, ramMb: 4096, diskGb: 40,
    underlayIp: null, lastHeartbeatAt: new Date(now.getTime() - 1000), disabledReason: null,
    usedVcpus: 0, usedRamMb: 0, usedDiskGb: 0, runningVms: 0, workload: 0, zone,
  };
}

type Db = Parameters<typeof resolveServerZone>[0];

/** What loadHosts reads from PostgreSQL for these hosts. */
const dbOf = (hosts: HostRow[]): Db => ({
  query: async (_sql: string, params: unknown[]) =>
    hosts
      .filter((h) => !params.length || params.includes(h.id))
      .map((h) => ({
        hypervisor_id: h.hypervisorId, id: h.id, state: h.state, accelerator: h.accelerator, vcpus: h.vcpus, ram_mb: h.ramMb,
        disk_gb: h.diskGb, underlay_ip: null, last_heartbeat_at: new Date(), disabled_reason: null, used_vcpus: 0,
        used_ram_mb: 0, used_disk_gb: 0, running_vms: 0, workload: 0, zone: h.zone,
      })),
}) as unknown as Db;

const admin = { isAdmin: true } as AuthContext;
const member = { isAdmin: false } as AuthContext;

describe('zones', () => {
  describe('zonesOf', () => {
    it.each<[string, HostRow[], { available: string[]; unavailable: string[] }]>([
      ['no hosts', [], { available: [], unavailable: [] }],
      ['every host in the default zone', [host('h1', 'nova'), host('h2', 'nova')], { available: ['nova'], unavailable: [] }],
      ['one host moved to az1', [host('h1', 'az1'), host('h2', 'nova')], { available: ['az1', 'nova'], unavailable: [] }],
      ['az1 has only a disabled host', [host('h1', 'az1', 'disabled'), host('h2', 'nova')], { available: ['nova'], unavailable: ['az1'] }],
      ['a down host still counts (enabled)', [host('h1', 'az1', 'down')], { available: ['az1'], unavailable: [] }],
      ['a fenced host does not', [host('h1', 'az1', 'fenced'), host('h2', 'az1', 'maintenance')], { available: [], unavailable: ['az1'] }],
    ])('%s', (_what, hosts, expected) => {
      expect(zonesOf(hosts, now)).toEqual(expected);
    });
  });

  it('lists available zones first, then the others, without hosts', () => {
    expect(zoneList([host('h1', 'nova'), host('h2', 'zz', 'disabled'), host('h3', 'az1')], now)).toEqual([
      { zoneName: 'az1', zoneState: { available: true }, hosts: null },
      { zoneName: 'nova', zoneState: { available: true }, hosts: null },
      { zoneName: 'zz', zoneState: { available: false }, hosts: null },
    ]);
  });

  it("details each available zone's enabled hosts, as Nova does", () => {
    const detail = zoneDetail([host('h1', 'az1'), host('h2', 'az1', 'disabled'), host('h3', 'nova', 'down'), host('h4', 'off', 'disabled')], now);
    expect(detail).toEqual([
      { zoneName: 'az1', zoneState: { available: true }, hosts: { h1: { 'nova-compute': { available: true, active: true, updated_at: '2024-11-25T11:59:59.000000' } } } },
      { zoneName: 'nova', zoneState: { available: true }, hosts: { h3: { 'nova-compute': { available: false, active: true, updated_at: '2024-11-25T11:59:59.000000' } } } },
      { zoneName: 'off', zoneState: { available: false }, hosts: null },
    ]);
  });

  describe('parseZoneRequest', () => {
    it.each([
      ['az1', { zone: 'az1', host: null, node: null }],
      ['az1:h1', { zone: 'az1', host: 'h1', node: null }],
      ['az1::h1', { zone: 'az1', host: null, node: 'h1' }],
      ['az1:h1:h1', { zone: 'az1', host: 'h1', node: 'h1' }],
      [':h1', { zone: null, host: 'h1', node: null }],
      ['az1:', { zone: 'az1', host: null, node: null }],
    ])('reads %j', (raw, expected) => {
      expect(parseZoneRequest(raw)).toEqual(expected);
    });

    it('refuses more than two colons', () => {
      expect(() => parseZoneRequest('a:b:c:d')).toThrow('Invalid input received: Unable to parse availability_zone');
    });
  });

  describe('requestedZone', () => {
    it.each([
      [{}, undefined],
      [{ availability_zone: 'az1' }, 'az1'],
      [{ availability_zone: 'az1:h1' }, 'az1:h1'],
    ])('reads %j', (server, expected) => {
      expect(requestedZone(server)).toBe(expected);
    });

    it.each([[null], [''], [' az1'], [7], ['a:b:c:d']])('refuses %j naming availability_zone', (value) => {
      expect(validationFieldOf(() => requestedZone({ availability_zone: value }))).toBe('availability_zone');
    });
  });

  describe('resolveServerZone', () => {
    const hosts = [host('h1', 'az1'), host('h2', 'nova'), host('h3', 'off', 'disabled')];

    it.each([
      ['no zone', undefined, admin, { availabilityZone: null, forcedHost: null }],
      ['an available zone', 'az1', member, { availabilityZone: 'az1', forcedHost: null }],
      ['the default zone', 'nova', member, { availabilityZone: 'nova', forcedHost: null }],
      ["a forced host in the zone", 'az1:h1', admin, { availabilityZone: 'az1', forcedHost: 'h1' }],
      ['a forced host elsewhere: the zone is dropped', 'nova:h1', admin, { availabilityZone: null, forcedHost: 'h1' }],
      ['a forced node', 'nova::h2', admin, { availabilityZone: 'nova', forcedHost: 'h2' }],
      ['a forced host, no zone', ':h2', admin, { availabilityZone: null, forcedHost: 'h2' }],
      ['an unknown forced host keeps only the default zone', 'nova:hx', admin, { availabilityZone: 'nova', forcedHost: 'hx' }],
    ])('%s', async (_what, value, auth, expected) => {
      await expect(resolveServerZone(dbOf(hosts), value, auth)).resolves.toEqual(expected);
    });

    it.each([['nope'], ['off']])("answers Nova's 400 for the zone %j (unknown, or no enabled host)", async (zone) => {
      const error = await resolveServerZone(dbOf(hosts), zone, member).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).message).toBe('The requested availability zone is not available');
    });

    it('lets only admins force a host', async () => {
      await expect(resolveServerZone(dbOf(hosts), 'az1:h1', member)).rejects.toThrow(
        new ForbiddenError("Policy doesn't allow os_compute_api:servers:create:forced_host to be performed."),
      );
    });
  });

  describe('serverZone', () => {
    it.each([
      ['placed on a host in az1', { hostId: 'h1', hostAvailabilityZone: 'az1', availabilityZone: 'az1' }, 'az1'],
      ['placed on a host in no zone', { hostId: 'h1', hostAvailabilityZone: null, availabilityZone: null }, 'nova'],
      ['placed elsewhere than asked', { hostId: 'h1', hostAvailabilityZone: null, availabilityZone: 'az1' }, 'nova'],
      ['not placed, asked for az1', { hostId: null, availabilityZone: 'az1' }, 'az1'],
      ['not placed, no zone asked', { hostId: null, availabilityZone: null }, ''],
    ])('%s: %j', (_what, server, expected) => {
      expect(serverZone(server)).toBe(expected);
    });
  });
});
