/**
 * The L3 role of the network node: one namespace per Neutron router (`qrouter-<id>`) with a veth
 * per attached network and one to the external bridge, ip_forward on, and its NAT in
 * `table ip nubo_router`. `sync(desired)` converges the kernel on the whole desired set: it makes
 * what is missing, fixes what differs and removes our namespaces and links that are no longer
 * wanted, found by prefix, so a restarted service cleans up after its predecessor.
 */
import { Logger } from '@nestjs/common';
import { ValidationError } from '@nubo/contracts';
import { ExecRouterCommandRunner, RouterCommandRunner } from './router-commands';
import { DEFAULT_ROUTER_NAMESPACE_PREFIX, routerNamespace, validNamespacePrefix } from './router-names';
import { renderRouterNft } from './router-nft';
import { RouterObserver } from './router-observer';
import { PeerView, peerKey, planRemoval, planRouter } from './router-planner';
import { RouterPlan, RouterSpec, validateRouter } from './router-spec';
import { parseUuid } from './router-values';

export interface RouterDataplaneOptions {
  /** Default `qrouter-`; tests use their own. Everything in namespaces with this prefix is ours. */
  namespacePrefix?: string;
  runner?: RouterCommandRunner;
}

export interface RouterSyncResult {
  /** Routers whose namespace, links or NAT were changed. */
  applied: string[];
  unchanged: string[];
  /** Rejected specs, left as they were in the kernel; `field` names the bad value. */
  invalid: Array<{ routerId: string; field: string; message: string }>;
  failed: Array<{ routerId: string; error: string }>;
  /** Namespaces removed (routers no longer desired). */
  removed: string[];
}

export interface RouterLeaks {
  namespaces: string[];
  links: Array<{ netns: string; name: string }>;
  peers: Array<{ netns?: string; name: string }>;
}

export class RouterDataplane {
  private readonly logger = new Logger(RouterDataplane.name);
  private readonly prefix: string;
  private readonly runner: RouterCommandRunner;
  private readonly observer: RouterObserver;
  /** Last ruleset loaded per namespace, so an unchanged NAT is not reloaded. */
  private readonly loadedNft = new Map<string, string>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(options: RouterDataplaneOptions = {}) {
    this.prefix = options.namespacePrefix ?? DEFAULT_ROUTER_NAMESPACE_PREFIX;
    if (!validNamespacePrefix(this.prefix)) throw new ValidationError('namespacePrefix must start a namespace name', 'namespacePrefix');
    this.runner = options.runner ?? new ExecRouterCommandRunner();
    this.observer = new RouterObserver(this.runner);
  }

  /** Converges on `desired` (the complete set: routers not listed are removed). Calls are serialized. */
  sync(desired: RouterSpec[]): Promise<RouterSyncResult> {
    const next = this.queue.then(() => this.doSync(desired));
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** What of ours is in the kernel and should not be, for `desired`: empty after a successful sync. */
  async findLeaks(desired: RouterSpec[], options: { peerNamespaces?: Array<string | undefined> } = {}): Promise<RouterLeaks> {
    const { plans, keep } = this.validateAll(desired);
    const leaks: RouterLeaks = { namespaces: [], links: [], peers: [] };
    for (const ns of await this.observer.namespaces(this.prefix)) {
      const plan = plans.find((p) => p.namespace === ns);
      if (!keep.has(ns)) leaks.namespaces.push(ns);
      if (!plan) continue;
      const wanted = new Set([...plan.internal, ...(plan.gateway ? [plan.gateway] : [])].map((l) => l.name));
      for (const link of (await this.observer.router(ns)).links) if (!wanted.has(link.name)) leaks.links.push({ netns: ns, name: link.name });
    }
    const peers = new Set(plans.flatMap((p) => [...p.internal, ...(p.gateway ? [p.gateway] : [])].map((l) => `${peerKey(l.bridgeNetns)}/${l.peer}`)));
    const scan = new Set(options.peerNamespaces ?? [undefined, ...plans.flatMap((p) => [...p.internal, p.gateway].map((l) => l?.bridgeNetns))]);
    for (const netns of scan) {
      for (const peer of await this.observer.peers(netns)) {
        if (!peers.has(`${peerKey(netns)}/${peer.name}`)) leaks.peers.push({ ...(netns ? { netns } : {}), name: peer.name });
      }
    }
    return leaks;
  }

  private validateAll(desired: RouterSpec[]) {
    const plans: RouterPlan[] = [];
    const invalid: RouterSyncResult['invalid'] = [];
    const keep = new Set<string>();
    for (const spec of desired) {
      const result = validateRouter(spec, { namespacePrefix: this.prefix });
      const id = parseUuid(spec?.routerId);
      if (id && keep.has(routerNamespace(this.prefix, id))) {
        invalid.push({ routerId: id, field: 'routerId', message: `router ${id} is listed twice` });
        continue;
      }
      if (id) keep.add(routerNamespace(this.prefix, id)); // an invalid router keeps what it has
      if (result.ok) plans.push(result.plan);
      else invalid.push({ routerId: result.routerId, field: result.field, message: result.message });
    }
    return { plans, invalid, keep };
  }

  private async doSync(desired: RouterSpec[]): Promise<RouterSyncResult> {
    const { plans, invalid, keep } = this.validateAll(desired);
    const result: RouterSyncResult = { applied: [], unchanged: [], invalid, failed: [], removed: [] };
    for (const bad of invalid) this.logger.warn(`Router ${bad.routerId} left as it is: ${bad.message}`);
    const existing = new Set(await this.observer.namespaces(this.prefix));
    for (const ns of existing) {
      if (keep.has(ns)) continue;
      try {
        await this.runAll(planRemoval(await this.observer.router(ns)));
        this.loadedNft.delete(ns);
        result.removed.push(ns);
        this.logger.log(`Removed router namespace ${ns}`);
      } catch (error) {
        result.failed.push({ routerId: ns.slice(this.prefix.length), error: (error as Error).message });
      }
    }
    const peers = await this.observePeers(plans);
    for (const plan of plans) {
      try {
        const changed = await this.syncRouter(plan, existing.has(plan.namespace), peers);
        (changed ? result.applied : result.unchanged).push(plan.routerId);
      } catch (error) {
        this.loadedNft.delete(plan.namespace);
        this.logger.error(`Router ${plan.routerId} failed to sync: ${(error as Error).message}`);
        result.failed.push({ routerId: plan.routerId, error: (error as Error).message });
      }
    }
    return result;
  }

  private async observePeers(plans: RouterPlan[]): Promise<PeerView> {
    const view: PeerView = new Map();
    const namespaces = new Set(plans.flatMap((p) => [...p.internal, ...(p.gateway ? [p.gateway] : [])].map((l) => l.bridgeNetns)));
    for (const netns of namespaces) view.set(peerKey(netns), await this.observer.peers(netns));
    return view;
  }

  private async syncRouter(plan: RouterPlan, exists: boolean, peers: PeerView): Promise<boolean> {
    const observed = exists ? await this.observer.router(plan.namespace) : undefined;
    if (!observed) this.loadedNft.delete(plan.namespace);
    const steps = planRouter(plan, observed, peers);
    await this.runAll(steps);
    const ruleset = renderRouterNft(plan);
    const nftChanged = this.loadedNft.get(plan.namespace) !== ruleset;
    if (nftChanged) {
      await this.runner.run('ip', ['netns', 'exec', plan.namespace, 'nft', '-f', '-'], ruleset);
      this.loadedNft.set(plan.namespace, ruleset);
    }
    if (steps.length || nftChanged) this.logger.log(`Router ${plan.routerId} synced (${steps.length} link steps${nftChanged ? ', NAT reloaded' : ''})`);
    return steps.length > 0 || nftChanged;
  }

  private async runAll(steps: string[][]): Promise<void> {
    for (const args of steps) await this.runner.run('ip', args);
  }
}
