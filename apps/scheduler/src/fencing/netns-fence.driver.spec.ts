/**
 * The netns fence driver against a fake `ip` and a fake process table: what it kills and when it
 * confirms, with the namespace present or gone (netns-fence.driver.int-spec.ts: the real kernel).
 */
import { NetnsFenceDriver, Runner } from './netns-fence.driver';

interface World {
  /** Namespaces `ip netns list` shows. */
  namespaces: string[];
  /** pids inside each namespace. */
  inside: Record<string, number[]>;
  /** pids whose environment names each namespace (its agent and its children). */
  agents: Record<string, number[]>;
  /** pids SIGKILL does not end (a D-state process). */
  unkillable: number[];
}

function fakeWorld(world: World) {
  const killed: number[] = [];
  const runner: Runner = async (_file, args) => {
    if (args.join(' ') === 'netns list') return world.namespaces.map((ns) => `${ns} (id: 1)`).join('\n');
    const ns = args[2];
    if (!world.namespaces.includes(ns)) throw new Error(`Cannot open network namespace "${ns}"`);
    return (world.inside[ns] ?? []).join('\n');
  };
  const kill = jest.spyOn(process, 'kill').mockImplementation((pid: number) => {
    const live = [...Object.values(world.inside), ...Object.values(world.agents)].flat();
    if (!live.includes(pid)) throw Object.assign(new Error('ESRCH'), { code: 'ESRCH' });
    killed.push(pid);
    if (world.unkillable.includes(pid)) return true;
    for (const list of [...Object.values(world.inside), ...Object.values(world.agents)]) {
      const at = list.indexOf(pid);
      if (at >= 0) list.splice(at, 1);
    }
    return true;
  });
  const driver = new NetnsFenceDriver({ runner, agentPids: (ns) => [...(world.agents[ns] ?? [])], confirmTimeoutMs: 200 });
  return { driver, killed, kill };
}

describe(NetnsFenceDriver.name, () => {
  afterEach(() => jest.restoreAllMocks());

  it.each<{ what: string; world: World; confirmed: boolean; killed: number[]; detail: string }>([
    {
      what: 'a present namespace: its processes and its agent killed',
      world: { namespaces: ['h1', 'h2'], inside: { h1: [101, 102], h2: [201] }, agents: { h1: [100], h2: [200] }, unkillable: [] },
      confirmed: true,
      killed: [101, 102, 100],
      detail: 'namespace h1 powered off: 3 process(es) killed',
    },
    {
      what: 'a deleted namespace whose agent still runs: the agent killed (regression: it was confirmed with the agent alive)',
      world: { namespaces: ['h2'], inside: { h2: [201] }, agents: { h1: [100, 103], h2: [200] }, unkillable: [] },
      confirmed: true,
      killed: [100, 103],
      detail: 'namespace h1 does not exist: 2 process(es) of its agent killed',
    },
    {
      what: 'a deleted namespace with nothing of it left',
      world: { namespaces: [], inside: {}, agents: { h2: [200] }, unkillable: [] },
      confirmed: true,
      killed: [],
      detail: 'namespace h1 does not exist: 0 process(es) of its agent killed',
    },
    {
      what: 'a deleted namespace whose agent survives SIGKILL: not confirmed',
      world: { namespaces: [], inside: {}, agents: { h1: [100] }, unkillable: [100] },
      confirmed: false,
      killed: [100],
      detail: 'namespace h1: 1 process(es) survived SIGKILL',
    },
  ])('$what', async ({ world, confirmed, killed, detail }) => {
    const fake = fakeWorld(world);
    const result = await fake.driver.fence('h1');
    expect(result).toEqual({ confirmed, detail });
    expect([...new Set(fake.killed)]).toEqual(killed);
    // Another host's agent is never signalled.
    expect(fake.killed).not.toContain(200);
  });

  it('confirms when the namespace is deleted while it is being fenced', async () => {
    const world: World = { namespaces: ['h1'], inside: { h1: [101] }, agents: { h1: [100] }, unkillable: [101] };
    const fake = fakeWorld(world);
    // The first pass signals 101 and 100; the namespace then goes (with 101 in it, as `ip netns del` + the kernel would).
    fake.kill.mockImplementation((pid: number) => {
      fake.killed.push(pid);
      world.namespaces = [];
      world.agents.h1 = [];
      return true;
    });
    await expect(fake.driver.fence('h1')).resolves.toEqual({ confirmed: true, detail: 'namespace h1 powered off: 2 process(es) killed' });
  });

  it('refuses a name that is not a namespace name, killing nothing', async () => {
    const fake = fakeWorld({ namespaces: [], inside: {}, agents: {}, unkillable: [] });
    await expect(fake.driver.fence('bad name')).resolves.toMatchObject({ confirmed: false });
    expect(fake.killed).toEqual([]);
  });
});
