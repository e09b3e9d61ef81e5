import { mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dropPrivilegesCommand, findExecutable, parseUser, permits, resolveQemuUser } from './qemu-user';

const passwd = ['root:x:0:0:root:/root:/bin/bash', 'nubo-qemu:x:995:995::/nonexistent:/usr/sbin/nologin', 'broken:x:abc:1::/:/bin/sh', ''].join('\n');
const group = ['root:x:0:', 'kvm:x:993:nubo-qemu', 'nubo-qemu:x:995:', 'disk:x:6:alice,nubo-qemu', 'video:x:44:nubo-qemu-2'].join('\n');
const user = { name: 'nubo-qemu', uid: 995, gid: 995, groups: [995, 993, 6] };

describe('parseUser', () => {
  it('reads the ids and every group the user is a member of', () => {
    expect(parseUser('nubo-qemu', passwd, group)).toEqual(user);
  });

  it.each(['nobody', 'nubo', 'broken'])('has no user %s', (name) => {
    expect(parseUser(name, passwd, group)).toBeUndefined();
  });
});

describe('resolveQemuUser', () => {
  it('is none when set empty, whatever the host', () => {
    expect(resolveQemuUser('', true)).toBeUndefined();
  });

  it('is none by default for an agent that is not root (it could not switch)', () => {
    expect(resolveQemuUser(undefined, false)).toBeUndefined();
  });

  it('refuses a configured user that does not exist, or a non-root agent', () => {
    expect(() => resolveQemuUser('no-such-user-nubo', true)).toThrow(/does not exist/);
    expect(() => resolveQemuUser('root', false)).toThrow(/only an agent running as root/);
  });
});

describe('dropPrivilegesCommand', () => {
  it('execs as the user with its groups, no capabilities and no_new_privs', () => {
    expect(dropPrivilegesCommand(user)).toEqual(['setpriv', '--reuid=995', '--regid=995', '--init-groups', '--inh-caps=-all', '--no-new-privs', '--']);
  });
});

describe('permits', () => {
  it.each([
    ['owner rw', { uid: 995, gid: 0, mode: 0o600 }, 6, true],
    ['owner without w', { uid: 995, gid: 0, mode: 0o400 }, 6, false],
    ['group kvm rw (/dev/kvm on Debian)', { uid: 0, gid: 993, mode: 0o20660 }, 6, true],
    ['root-only device (a host without a kvm group)', { uid: 0, gid: 0, mode: 0o20600 }, 6, false],
    ['other search', { uid: 0, gid: 0, mode: 0o701 }, 1, true],
    ['no other search', { uid: 0, gid: 0, mode: 0o700 }, 1, false],
    ['group bits win over other bits for a member', { uid: 0, gid: 995, mode: 0o707 }, 1, false],
  ])('%s', (_what, stats, want, expected) => {
    expect(permits(user, stats, want)).toBe(expected);
  });
});

describe('findExecutable', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nubo-exe-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('finds a name on PATH, takes a path as is, and misses what is absent or not executable', () => {
    writeFileSync(join(dir, 'qemu-x'), '#!/bin/sh\n');
    chmodSync(join(dir, 'qemu-x'), 0o755);
    writeFileSync(join(dir, 'plain'), '');
    expect(findExecutable('qemu-x', `/nonexistent:${dir}`)).toBe(join(dir, 'qemu-x'));
    expect(findExecutable(join(dir, 'qemu-x'), '')).toBe(join(dir, 'qemu-x'));
    expect(findExecutable('plain', dir)).toBeUndefined();
    expect(findExecutable('/nonexistent/qemu', dir)).toBeUndefined();
  });
});
