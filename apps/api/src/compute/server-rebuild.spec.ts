import { PowerState, TaskState, ValidationError, VmState } from '@nubo/contracts';
import { ServerEntity } from '@nubo/database';
import { REBUILD_FROM, flavorImageProblem, generateAdminPass, parseRebuild } from './server-rebuild';
import { rebuildServerView } from './server-rebuild-view';

const IMAGE = '70a599e0-31e7-49b7-b260-868f441e862b';
const GiB = 2 ** 30;

describe('parseRebuild', () => {
  it.each([
    [{ imageRef: IMAGE }, { imageRef: IMAGE, preserveEphemeral: false }],
    [{ imageRef: IMAGE.toUpperCase(), name: 'new', adminPass: 's3cret' }, { imageRef: IMAGE, name: 'new', adminPass: 's3cret' }],
    [{ imageRef: IMAGE, metadata: { 'meta var': 'meta val' } }, { metadata: { 'meta var': 'meta val' } }],
    [{ imageRef: IMAGE, preserve_ephemeral: true }, { preserveEphemeral: true }],
    [{ imageRef: IMAGE, preserve_ephemeral: 'no' }, { preserveEphemeral: false }],
    [{ imageRef: IMAGE, 'OS-DCF:diskConfig': 'AUTO', accessIPv4: '1.2.3.4', accessIPv6: 'fe80::100', personality: [] }, { imageRef: IMAGE }],
  ])('takes %j', (rebuild, expected) => {
    expect(parseRebuild({ rebuild })).toMatchObject(expected);
  });

  it.each([
    [null, 'rebuild'],
    [{}, 'imageRef'],
    [{ imageRef: 'not-a-uuid' }, 'imageRef'],
    [{ imageRef: `http://x/images/${IMAGE}` }, 'imageRef'],
    [{ imageRef: IMAGE, name: '' }, 'name'],
    [{ imageRef: IMAGE, name: ' padded ' }, 'name'],
    [{ imageRef: IMAGE, adminPass: 42 }, 'adminPass'],
    [{ imageRef: IMAGE, metadata: { 'bad/key': 'v' } }, 'metadata'],
    [{ imageRef: IMAGE, metadata: { k: 1 } }, 'metadata'],
    [{ imageRef: IMAGE, preserve_ephemeral: 'maybe' }, 'preserve_ephemeral'],
    [{ imageRef: IMAGE, 'OS-DCF:diskConfig': 'SOMETIMES' }, 'OS-DCF:diskConfig'],
    [{ imageRef: IMAGE, accessIPv4: '300.1.1.1' }, 'accessIPv4'],
    [{ imageRef: IMAGE, personality: [{ path: '/etc/motd', contents: 'aGk=' }] }, 'personality'],
    [{ imageRef: IMAGE, flavorRef: '1' }, 'rebuild'],
  ])('refuses %j naming %s', (rebuild, field) => {
    try {
      parseRebuild({ rebuild });
      throw new Error('accepted');
    } catch (error) {
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).details.field).toBe(field);
    }
  });

  it('runs from ACTIVE, SHUTOFF and ERROR only, as Nova', () => {
    expect(REBUILD_FROM.sort()).toEqual([VmState.Active, VmState.Error, VmState.Stopped].sort());
  });
});

describe('flavorImageProblem', () => {
  const image = { minRam: 0, minDisk: 0, sizeBytes: 50 * 2 ** 20 };
  it.each([
    [{ ramMb: 512, diskGb: 1 }, image, undefined],
    [{ ramMb: 512, diskGb: 0 }, { ...image, sizeBytes: 5 * GiB, minDisk: 10 }, undefined],
    [{ ramMb: 256, diskGb: 1 }, { ...image, minRam: 512 }, /memory is too small/],
    [{ ramMb: 512, diskGb: 1 }, { ...image, sizeBytes: 2 * GiB }, /disk is too small for requested image. Flavor disk is 1073741824 bytes, image is 2147483648 bytes/],
    [{ ramMb: 512, diskGb: 1 }, { ...image, minDisk: 2 }, /minimum size is 2147483648 bytes/],
  ])('%j with %j', (flavor, img, expected) => {
    const problem = flavorImageProblem(flavor, img);
    if (expected === undefined) expect(problem).toBeUndefined();
    else expect(problem).toMatch(expected);
  });
});

describe('generateAdminPass', () => {
  it('makes 12 characters with a digit, an upper- and a lower-case letter, different each time', () => {
    const made = new Set(Array.from({ length: 50 }, () => generateAdminPass()));
    expect(made.size).toBe(50);
    for (const pass of made) expect(pass).toMatch(/^(?=.*[0-9])(?=.*[A-Z])(?=.*[a-z])[0-9A-Za-z]{12}$/);
  });
});

describe('rebuildServerView', () => {
  const server = Object.assign(new ServerEntity(), {
    id: '5f1c2c3e-0000-4000-8000-000000000001', projectId: 'p1', userId: 'u1', name: 'vm', flavorId: '1',
    flavor: { vcpus: 1, ramMb: 512, diskGb: 1, name: 'm1.tiny' }, imageRef: IMAGE, vmState: VmState.Active,
    taskState: TaskState.Rebuilding, powerState: PowerState.Running, hostId: 'nubo-h1', fault: null, metadata: { a: 'b' },
    keyName: null, requestId: 'r', createdAt: new Date(), updatedAt: new Date(), launchedAt: null, deletedAt: null,
  });

  it("is Nova's 2.1 rebuild body: status REBUILD, the admin password, no extended attributes", () => {
    const view = rebuildServerView(server, 'http://x', 'pw');
    expect(view).toMatchObject({ id: server.id, status: 'REBUILD', adminPass: 'pw', metadata: { a: 'b' }, image: { id: IMAGE } });
    expect(Object.keys(view).filter((k) => k.startsWith('OS-EXT') || k.startsWith('OS-SRV') || k === 'key_name')).toEqual([]);
    for (const key of ['accessIPv4', 'accessIPv6', 'addresses', 'created', 'flavor', 'hostId', 'links', 'progress', 'tenant_id', 'updated', 'user_id', 'OS-DCF:diskConfig']) {
      expect(view).toHaveProperty([key]);
    }
  });
});
