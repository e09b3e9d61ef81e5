/**
 * The all-in-one fence driver against the real kernel: a namespace of this test's own with a
 * veth and two processes in it plays a host, a process in the root namespace its agent; fencing
 * it kills all three (not another host's agent), keeps its links, and is confirmed; fencing it again confirms again; fencing a namespace that does not exist kills its agent, then confirms.
 */
import { execFileSync, spawn } from 'node:child_process';
import { NetnsFenceDriver } from './netns-fence.driver';

const NS = `nubo-fence-it-${process.pid}`;
const isRoot = process.getuid?.() === 0;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

(isRoot ? describe : describe.skip)(NetnsFenceDriver.name, () => {
  beforeAll(() => {
    execFileSync('ip', ['netns', 'add', NS]);
    execFileSync('ip', ['link', 'add', 'nfit0', 'netns', NS, 'type', 'veth', 'peer', 'name', 'nfit1', 'netns', NS]);
  });

  afterAll(() => {
    for (const pid of execFileSync('ip', ['netns', 'pids', NS], { encoding: 'utf8' }).split('\n').filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // Gone.
      }
    }
    execFileSync('ip', ['netns', 'del', NS]);
  });

  it('kills everything in the namespace and its agent, keeps its links, and confirms', async () => {
    const children = [0, 1].map(() => spawn('ip', ['netns', 'exec', NS, 'sleep', '600'], { stdio: 'ignore' }));
    // The host's agent: in the root namespace, named by its environment.
    const agent = spawn('sleep', ['600'], { stdio: 'ignore', env: { PATH: process.env.PATH, NUBO_AGENT_NETNS: NS } });
    const other = spawn('sleep', ['600'], { stdio: 'ignore', env: { PATH: process.env.PATH, NUBO_AGENT_NETNS: `${NS}-other` } });
    const inside = async () => execFileSync('ip', ['netns', 'pids', NS], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
    for (let i = 0; i < 100 && (await inside()).length < 2; i++) await new Promise((r) => setTimeout(r, 20));
    const pids = await inside();
    expect(pids).toHaveLength(2);

    await new Promise((r) => setTimeout(r, 100));
    const result = await new NetnsFenceDriver().fence(NS);
    expect(result.confirmed).toBe(true);
    expect(result.detail).toMatch(/3 process\(es\) killed/);
    expect(pids.some(alive)).toBe(false);
    expect(alive(agent.pid!)).toBe(false);
    // Another host's agent is not touched.
    expect(alive(other.pid!)).toBe(true);
    other.kill('SIGKILL');
    expect(await inside()).toEqual([]);
    // The cables stay: the host comes back on the same underlay.
    const links = execFileSync('ip', ['-netns', NS, '-o', 'link', 'show'], { encoding: 'utf8' });
    expect(links).toContain('nfit0');
    await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null || c.signalCode ? r(null) : c.once('exit', r)))));

    await expect(new NetnsFenceDriver().fence(NS)).resolves.toMatchObject({ confirmed: true });
    // A deleted namespace's agent lives on outside it: killed too before the fence is confirmed.
    const orphan = spawn('sleep', ['600'], { stdio: 'ignore', env: { PATH: process.env.PATH, NUBO_AGENT_NETNS: `${NS}-none` } });
    await new Promise((r) => setTimeout(r, 100));
    await expect(new NetnsFenceDriver().fence(`${NS}-none`)).resolves.toMatchObject({ confirmed: true, detail: expect.stringMatching(/does not exist: 1 process/) });
    expect(alive(orphan.pid!)).toBe(false);
    await expect(new NetnsFenceDriver().fence('bad name')).resolves.toMatchObject({ confirmed: false });
  });
});
