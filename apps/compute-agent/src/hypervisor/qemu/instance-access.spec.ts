import { Logger } from '@nestjs/common';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InstanceAccess } from './instance-access';
import { instancePaths } from './qemu-argv';

const serverId = '3f2b8c1e-4d5a-4b6c-8d7e-9f0a1b2c3d4e';
/** Ids nobody on the host has: root may still give files to them. */
const user = { name: 'nubo-test-qemu', uid: 54_321, gid: 54_322, groups: [54_322] };
const isRoot = process.getuid?.() === 0;
const modeOf = (path: string) => statSync(path).mode & 0o7777;
const ownerOf = (path: string) => [statSync(path).uid, statSync(path).gid];

describe(InstanceAccess.name, () => {
  describe('runAsFor', () => {
    beforeAll(() => Logger.overrideLogger(false));

    it.each([
      ['tcg', true, user],
      ['tcg', false, user],
      ['kvm', true, user],
      ['kvm', false, undefined],
    ] as const)('with %s, when the user can open /dev/kvm: %s, runs QEMU as %j', (accelerator, kvm, expected) => {
      expect(new InstanceAccess(user, () => kvm).runAsFor(accelerator, serverId)).toEqual(expected);
    });

    it('runs QEMU as the agent without a user', () => {
      expect(new InstanceAccess(undefined).runAsFor('tcg', serverId)).toBeUndefined();
    });
  });

  (isRoot ? describe : describe.skip)('files (needs root to give them away)', () => {
    let root: string;
    beforeEach(() => {
      root = mkdtempSync(join(tmpdir(), 'nubo-access-'));
      // Above the state dir: the operator's, searchable.
      chmodSync(root, 0o711);
    });
    afterEach(() => rmSync(root, { recursive: true, force: true }));

    it('makes the state dir searchable, instances/ the group-s, and the instance dir group-writable and sticky', async () => {
      const stateDir = join(root, 'state');
      mkdirSync(stateDir, { mode: 0o700 });
      const paths = instancePaths(stateDir, serverId);
      await new InstanceAccess(user).prepareInstanceDir(paths);
      expect(modeOf(stateDir)).toBe(0o701);
      expect(modeOf(join(stateDir, 'instances'))).toBe(0o750);
      expect(ownerOf(join(stateDir, 'instances'))).toEqual([0, user.gid]);
      expect(modeOf(paths.dir)).toBe(0o1770);
      expect(ownerOf(paths.dir)).toEqual([0, user.gid]);
    });

    it('keeps the instance dir root-only without a user', async () => {
      const paths = instancePaths(join(root, 'state'), serverId);
      await new InstanceAccess(undefined).prepareInstanceDir(paths);
      expect(modeOf(paths.dir)).toBe(0o700);
      expect(ownerOf(paths.dir)).toEqual([0, 0]);
    });

    it('refuses a state dir below a directory the user cannot search, naming it', async () => {
      const outer = join(root, 'outer');
      mkdirSync(outer, { mode: 0o700 });
      const access = new InstanceAccess(user);
      await expect(access.prepareInstanceDir(instancePaths(join(outer, 'state'), serverId))).rejects.toThrow(`cannot reach ${outer}`);
      expect(modeOf(outer)).toBe(0o700);
    });

    it('hands files over to the user, skipping missing ones', async () => {
      const disk = join(root, 'disk.qcow2');
      writeFileSync(disk, '');
      await new InstanceAccess(user).handOver(disk, join(root, 'missing'));
      expect(ownerOf(disk)).toEqual([user.uid, user.gid]);
    });

    it('shares a cached base read-only with the group', async () => {
      const images = join(root, 'images');
      mkdirSync(images, { mode: 0o700 });
      const base = join(images, 'a'.repeat(64));
      writeFileSync(base, '', { mode: 0o600 });
      await new InstanceAccess(user).shareReadOnly(base, instancePaths(root, serverId));
      expect(modeOf(root)).toBe(0o711);
      expect([modeOf(base), ...ownerOf(base)]).toEqual([0o640, 0, user.gid]);
      expect([modeOf(images), ...ownerOf(images)]).toEqual([0o750, 0, user.gid]);
    });
  });
});
