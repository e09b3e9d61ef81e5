/**
 * The unprivileged user QEMU runs as (NUBO_AGENT_QEMU_USER, default `nubo-qemu`, made by
 * deploy/lib.sh). Not `-runas`: QEMU 7.2 installs its seccomp filter before it drops privileges,
 * and `-sandbox elevateprivileges=deny` kills it on the setgid (SIGSYS, "Bad system call"). So,
 * as libvirt does, the agent drops privileges before exec: `setpriv` (util-linux) runs after
 * `ip netns exec` has entered the namespace (which needs root) and execs QEMU as the user, with
 * its groups, no capabilities and no_new_privs. The pid stays QEMU's through both execs.
 */
import { Stats, accessSync, constants, readFileSync, statSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';

export const DEFAULT_QEMU_USER = 'nubo-qemu';

export interface QemuUser {
  name: string;
  uid: number;
  gid: number;
  /** Primary and supplementary groups (what `setpriv --init-groups` gives it). */
  groups: number[];
}

/** A user from passwd(5) and group(5) texts; undefined when the passwd text has no such user. Pure. */
export function parseUser(name: string, passwd: string, group: string): QemuUser | undefined {
  const entry = passwd
    .split('\n')
    .map((line) => line.split(':'))
    .find((fields) => fields[0] === name && fields.length >= 7);
  if (!entry) return undefined;
  const uid = Number(entry[2]);
  const gid = Number(entry[3]);
  if (!Number.isInteger(uid) || !Number.isInteger(gid)) return undefined;
  const groups = new Set([gid]);
  for (const line of group.split('\n')) {
    const fields = line.split(':');
    if (fields.length >= 4 && fields[3].split(',').includes(name) && Number.isInteger(Number(fields[2]))) groups.add(Number(fields[2]));
  }
  return { name, uid, gid, groups: [...groups] };
}

export function lookupUser(name: string, files = { passwd: '/etc/passwd', group: '/etc/group' }): QemuUser | undefined {
  const read = (path: string) => {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return '';
    }
  };
  return parseUser(name, read(files.passwd), read(files.group));
}

/**
 * The user QEMU runs as: `configured` when set, none for '' (disabled), else nubo-qemu when the
 * agent runs as root and that user exists. A non-root agent cannot switch users: none.
 */
export function resolveQemuUser(configured: string | undefined, isRoot = process.getuid?.() === 0): QemuUser | undefined {
  if (configured === '') return undefined;
  if (configured !== undefined) {
    const user = lookupUser(configured);
    if (!user) throw new Error(`QEMU user ${configured} does not exist`);
    if (!isRoot) throw new Error(`only an agent running as root can run QEMU as ${configured}`);
    return user;
  }
  return isRoot ? lookupUser(DEFAULT_QEMU_USER) : undefined;
}

/** The command that execs the rest of its arguments as `user` (pure, for tests). */
export function dropPrivilegesCommand(user: QemuUser): string[] {
  return ['setpriv', `--reuid=${user.uid}`, `--regid=${user.gid}`, '--init-groups', '--inh-caps=-all', '--no-new-privs', '--'];
}

/** Whether `user` gets all of `want` (bits of 0o7: r=4, w=2, x=1) on a file with these stats. Pure. */
export function permits(user: QemuUser, stats: Pick<Stats, 'uid' | 'gid' | 'mode'>, want: number): boolean {
  if (user.uid === 0) return true;
  const bits = stats.uid === user.uid ? (stats.mode >> 6) & 7 : user.groups.includes(stats.gid) ? (stats.mode >> 3) & 7 : stats.mode & 7;
  return (bits & want) === want;
}

/** Whether `user` may open /dev/kvm read-write (root:kvm 0660 on Debian, with the user in kvm). */
export function userCanOpenKvm(user: QemuUser, device = '/dev/kvm'): boolean {
  try {
    return permits(user, statSync(device), 6);
  } catch {
    return false;
  }
}

/** An executable's path, as execvp would find it (a name with a slash is taken as is). */
export function findExecutable(binary: string, path = process.env.PATH ?? ''): string | undefined {
  const candidates = binary.includes('/') ? [binary] : path.split(delimiter).filter(isAbsolute).map((dir) => join(dir, binary));
  return candidates.find((file) => {
    try {
      accessSync(file, constants.X_OK);
      return statSync(file).isFile();
    } catch {
      return false;
    }
  });
}
