import { ProcessTable, hostQemuPids, killHostQemus } from './host-self-fence';

function table(processes: Record<number, string[]>, gone: number[] = []) {
  const killed: Array<[number, string]> = [];
  const t: ProcessTable = {
    pids: () => Object.keys(processes).map(Number),
    argv: (pid) => processes[pid] ?? [],
    kill: (pid, signal) => {
      if (gone.includes(pid)) throw Object.assign(new Error('ESRCH'), { code: 'ESRCH' });
      killed.push([pid, signal]);
    },
  };
  return { t, killed };
}

const qemu = (pidfile: string) => ['qemu-system-x86_64', '-name', 'guest=nubo-x', '-pidfile', pidfile, '-daemonize'];

describe('killHostQemus', () => {
  const processes = {
    10: qemu('/var/lib/nubo/hosts/h1/instances/s1/qemu.pid'),
    11: qemu('/var/lib/nubo/hosts/h1/instances/s2/qemu.pid'),
    // Another agent's host on the same machine.
    12: qemu('/var/lib/nubo/hosts/h10/instances/s3/qemu.pid'),
    13: qemu('/var/lib/nubo/hosts/h2/instances/s4/qemu.pid'),
    // Not QEMUs of instances: an editor on the pidfile, a QEMU of something else.
    14: ['vi', '/var/lib/nubo/hosts/h1/instances/s1/qemu.pid'],
    15: ['qemu-system-x86_64', '-pidfile', '/tmp/other.pid'],
    16: ['qemu-system-x86_64', '-pidfile'],
  };

  it('finds only the QEMUs whose pidfile is under this host state dir', () => {
    expect(hostQemuPids('/var/lib/nubo/hosts/h1', table(processes).t)).toEqual([10, 11]);
    expect(hostQemuPids('/var/lib/nubo/hosts/h1/', table(processes).t)).toEqual([10, 11]);
  });

  it('sends SIGKILL to each and counts those it reached', () => {
    const { t, killed } = table(processes, [11]);
    expect(killHostQemus('/var/lib/nubo/hosts/h1', t)).toEqual([10]);
    expect(killed).toEqual([[10, 'SIGKILL']]);
  });

  it('kills nothing on a host without QEMUs', () => {
    const { t, killed } = table({ 1: ['/sbin/init'] });
    expect(killHostQemus('/var/lib/nubo/hosts/h1', t)).toEqual([]);
    expect(killed).toEqual([]);
  });
});
