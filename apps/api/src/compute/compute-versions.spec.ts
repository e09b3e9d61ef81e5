/** Version gates of the smaller Nova resources: keypairs, services, hypervisors, server groups, crash dump. */
import { ForbiddenError, NotFoundError, ValidationError } from '@nubo/contracts';
import { HostRow } from './hypervisors/host-inventory';
import { hypervisorDetail } from './hypervisors/hypervisors.controller';
import { keypairOwner } from './keypairs/keypairs.controller';
import { parseCreateKeypair } from './keypairs/keypairs.service';
import { serviceView } from './os-services/os-services.controller';
import { parseCrashDump } from './server-crash-dump';
import { parseCreateGroup } from './server-groups/server-group-request';
import { parseServerListQuery } from './server-list-query';
import { parseRebuild } from './server-rebuild';

const host: HostRow = {
  hypervisorId: 1,
  id: 'h1',
  state: 'up',
  accelerator: 'tcg',
  vcpus: 4,
  ramMb: 4096,
  diskGb: 40,
  underlayIp: null,
  lastHeartbeatAt: new Date(),
  disabledReason: null,
  forcedDown: false,
  usedVcpus: 0,
  usedRamMb: 0,
  usedDiskGb: 0,
  runningVms: 0,
  workload: 0,
  zone: 'nova',
};

describe('keypairs', () => {
  it.each([
    ['2.1', { name: 'k' }, { name: 'k' }],
    ['2.2', { name: 'k', type: 'x509' }, { name: 'k', type: 'x509' }],
    ['2.10', { name: 'k', type: 'ssh', user_id: 'u2' }, { name: 'k', type: 'ssh', userId: 'u2' }],
  ])('at %s takes %j', (version, keypair, expected) => expect(parseCreateKeypair({ keypair }, version)).toEqual(expected));

  it.each([
    ['2.1', { name: 'k', type: 'ssh' }],
    ['2.9', { name: 'k', user_id: 'u2' }],
    ['2.2', { name: 'k', type: 'rsa' }],
  ])('at %s refuses %j', (version, keypair) => expect(() => parseCreateKeypair({ keypair }, version)).toThrow(ValidationError));

  it.each([
    ['a member at 2.1 naming another user reads their own keys', { userId: 'u1', isAdmin: false }, '2.1', 'u2', 'u1'],
    ['an admin at 2.10 reads the named user', { userId: 'a', isAdmin: true }, '2.10', 'u2', 'u2'],
    ['an admin at 2.9 reads their own', { userId: 'a', isAdmin: true }, '2.9', 'u2', 'a'],
    ['a member at 2.10 may name themself', { userId: 'u1', isAdmin: false }, '2.10', 'u1', 'u1'],
  ])('%s', (_n, auth, version, asked, owner) => expect(keypairOwner(auth, version, asked, 'rule')).toBe(owner));

  it('refuses a member naming another user at 2.10', () => expect(() => keypairOwner({ userId: 'u1', isAdmin: false }, '2.10', 'u2', 'rule')).toThrow(ForbiddenError));
});

describe('os-services', () => {
  it('shows forced_down from 2.11', () => {
    expect(serviceView(host, new Date(), '2.10')).not.toHaveProperty('forced_down');
    expect(serviceView(host, new Date(), '2.11')).toMatchObject({ forced_down: false, state: 'up' });
    expect(serviceView({ ...host, forcedDown: true }, new Date(), '2.11')).toMatchObject({ forced_down: true, state: 'down' });
  });
});

describe('os-hypervisors', () => {
  it('gives cpu_info as a JSON string before 2.28, as an object from 2.28', () => {
    const before = hypervisorDetail(host, new Date(), '2.27').cpu_info;
    expect(typeof before).toBe('string');
    expect(hypervisorDetail(host, new Date(), '2.28').cpu_info).toEqual(JSON.parse(before as string));
  });
});

describe('os-server-groups', () => {
  it.each(['soft-affinity', 'soft-anti-affinity'])('refuses %s before 2.15 and takes it from 2.15', (policy) => {
    const body = { server_group: { name: 'g', policies: [policy] } };
    expect(() => parseCreateGroup(body, '2.14')).toThrow(ValidationError);
    expect(parseCreateGroup(body, '2.15')).toEqual({ name: 'g', policy });
  });
  it('takes affinity at 2.1', () => expect(parseCreateGroup({ server_group: { name: 'g', policies: ['affinity'] } }, '2.1')).toEqual({ name: 'g', policy: 'affinity' }));
});

describe('trigger_crash_dump', () => {
  it('does not exist before 2.17 (404)', () => expect(() => parseCrashDump({ trigger_crash_dump: null }, '2.16')).toThrow(NotFoundError));
  it('takes null from 2.17', () => expect(() => parseCrashDump({ trigger_crash_dump: null }, '2.17')).not.toThrow());
  it('refuses a body', () => expect(() => parseCrashDump({ trigger_crash_dump: {} }, '2.17')).toThrow(ValidationError));
});

describe('server list tag filters', () => {
  const auth = { projectId: 'p', isAdmin: false };
  it('are ignored before 2.26, as any unknown filter', () => {
    expect(parseServerListQuery({ tags: 'a' }, auth, '2.25').where.some((w) => w.includes('tags'))).toBe(false);
  });
  it('filter from 2.26', () => {
    const q = parseServerListQuery({ tags: 'a,b', 'not-tags-any': 'c' }, auth, '2.26');
    expect(q.where.filter((w) => w.includes('s.tags'))).toHaveLength(2);
    expect(q.params).toEqual(expect.arrayContaining([['a', 'b'], ['c']]));
  });
});

describe('rebuild description', () => {
  const rebuild = (extra: Record<string, unknown>) => ({ rebuild: { imageRef: '6f2a3c7e-0000-4000-8000-000000000000', ...extra } });
  it('is refused before 2.19', () => expect(() => parseRebuild(rebuild({ description: 'd' }), '2.18')).toThrow(ValidationError));
  it.each([['d', 'd'], [null, null]])('takes %j from 2.19', (given, kept) => expect(parseRebuild(rebuild({ description: given }), '2.19').description).toBe(kept));
  it('leaves it alone when absent', () => expect(parseRebuild(rebuild({}), '2.19')).not.toHaveProperty('description'));
});
