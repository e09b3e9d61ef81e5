import { RouterCommandError, RouterCommandRunner } from './router-commands';
import { RouterDataplane } from './router-dataplane';
import { renderRouterNft } from './router-nft';
import { validateRouter } from './router-spec';
import { ROUTER_ID, routerSpec } from './router-test-fixtures';

const OTHER_ID = 'd0d0d0d0-0000-4000-8000-000000000002';
const NS = `qrouter-${ROUTER_ID}`;

/** Answers observations from a list of namespaces (empty ones), records every other command. */
class FakeRunner implements RouterCommandRunner {
  namespaces: string[] = [];
  calls: Array<{ args: string[]; input?: string }> = [];
  failOn?: (args: string[]) => boolean;

  async run(file: string, args: string[], input?: string): Promise<string> {
    expect(file).toBe('ip');
    if (args.join(' ') === 'netns list') return this.namespaces.map((n) => `${n} (id: 1)`).join('\n');
    if (args.includes('-json')) return '[]';
    if (args.includes('sysctl') && args.includes('-n')) return '1\n';
    if (this.failOn?.(args)) throw new RouterCommandError(['ip', ...args], 'RTNETLINK answers: File exists', 2);
    this.calls.push({ args, ...(input === undefined ? {} : { input }) });
    if (args[0] === 'netns' && args[1] === 'add') this.namespaces.push(args[2]);
    if (args[0] === 'netns' && args[1] === 'del') this.namespaces = this.namespaces.filter((n) => n !== args[2]);
    return '';
  }
}

describe(RouterDataplane.name, () => {
  let runner: FakeRunner;
  let dataplane: RouterDataplane;
  beforeEach(() => {
    runner = new FakeRunner();
    dataplane = new RouterDataplane({ runner });
  });

  describe('sync', () => {
    it('loads the NAT with one nft -f - in the router namespace, and not again when nothing changed', async () => {
      await dataplane.sync([routerSpec()]);
      const plan = validateRouter(routerSpec(), { namespacePrefix: 'qrouter-' });
      const loads = runner.calls.filter((c) => c.args.includes('nft'));
      expect(loads).toEqual([{ args: ['netns', 'exec', NS, 'nft', '-f', '-'], input: plan.ok && renderRouterNft(plan.plan) }]);
      runner.calls = [];
      runner.namespaces = [NS];
      const second = await dataplane.sync([routerSpec()]);
      // The fake kernel shows an empty namespace, so links are re-planned, but the NAT text is the same.
      expect(runner.calls.some((c) => c.args.includes('nft'))).toBe(false);
      expect(second.applied).toEqual([ROUTER_ID]);
    });

    it('removes namespaces of ours no longer desired, keeps those of rejected specs and ignores others', async () => {
      runner.namespaces = [NS, `qrouter-${OTHER_ID}`, 'nubo-h1', 'qdhcp-x'];
      const result = await dataplane.sync([{ ...routerSpec(), gateway: { ...routerSpec().gateway!, mac: 'bad' } }]);
      expect(result).toEqual({
        applied: [], unchanged: [], failed: [], removed: [`qrouter-${OTHER_ID}`],
        invalid: [{ routerId: ROUTER_ID, field: 'gateway.mac', message: 'gateway.mac must be a unicast MAC address' }],
      });
      expect(runner.namespaces).toEqual([NS, 'nubo-h1', 'qdhcp-x']);
    });

    it('rejects a router listed twice', async () => {
      const result = await dataplane.sync([routerSpec(), routerSpec()]);
      expect(result.invalid).toEqual([{ routerId: ROUTER_ID, field: 'routerId', message: `router ${ROUTER_ID} is listed twice` }]);
      expect(result.applied).toEqual([ROUTER_ID]);
    });

    it('reports a router whose commands fail and still syncs the others', async () => {
      runner.failOn = (args) => args.includes('netns') && args.includes(NS) && args[1] === 'add';
      const other = routerSpec({ routerId: OTHER_ID, interfaces: [{ ...routerSpec().interfaces[0], portId: 'e0e0e0e0-0000-4000-8000-000000000001' }], gateway: null });
      const result = await dataplane.sync([routerSpec(), other]);
      expect(result.failed).toEqual([{ routerId: ROUTER_ID, error: expect.stringContaining('File exists') }]);
      expect(result.applied).toEqual([OTHER_ID]);
    });

    it('runs one sync at a time', async () => {
      const order: string[] = [];
      const first = dataplane.sync([routerSpec()]).then(() => order.push('first'));
      const second = dataplane.sync([]).then(() => order.push('second'));
      await Promise.all([first, second]);
      expect(order).toEqual(['first', 'second']);
      expect(runner.namespaces).toEqual([]);
    });
  });

  describe('findLeaks', () => {
    it('lists our namespaces that no desired router explains', async () => {
      runner.namespaces = [NS, `qrouter-${OTHER_ID}`, 'nubo-h1'];
      expect(await dataplane.findLeaks([routerSpec()])).toEqual({ namespaces: [`qrouter-${OTHER_ID}`], links: [], peers: [] });
    });
  });

  it('refuses a namespace prefix that cannot start a namespace name', () => {
    expect(() => new RouterDataplane({ namespacePrefix: '../x' })).toThrow('namespacePrefix');
  });
});
