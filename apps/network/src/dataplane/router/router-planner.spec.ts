import { ObservedRouter } from './router-observer';
import { PeerView, planRemoval, planRouter } from './router-planner';
import { RouterPlan, RouterSpec, validateRouter } from './router-spec';
import { ROUTER_ID, routerSpec } from './router-test-fixtures';

const NS = `qrouter-${ROUTER_ID}`;
function planOf(spec: RouterSpec): RouterPlan {
  const result = validateRouter(spec, { namespacePrefix: 'qrouter-' });
  if (!result.ok) throw new Error(result.message);
  return result.plan;
}

/** What the kernel holds once `routerSpec()` is applied. */
function converged(): { observed: ObservedRouter; peers: PeerView } {
  return {
    observed: {
      namespace: NS, forwarding: true, defaultRoute: { via: '203.0.113.1', dev: 'qg-c1c2c3d4222' },
      links: [
        { name: 'qr-b1b2c3d4111', mac: 'fa:16:3e:00:00:01', mtu: 1450, up: true, addresses: ['10.80.0.1/24'] },
        { name: 'qg-c1c2c3d4222', mac: 'fa:16:3e:00:00:ff', mtu: 1500, up: true, addresses: ['203.0.113.10/24'] },
      ],
    },
    peers: new Map([['', [
      { name: 'nrq-b1b2c3d4111', master: 'nb-net1', mtu: 1450, up: true },
      { name: 'nrg-c1c2c3d4222', master: 'br-ext', mtu: 1500, up: true },
    ]]]),
  };
}

describe(planRouter.name, () => {
  it('builds a missing router from scratch: namespace, forwarding, veths, addresses, default route', () => {
    expect(planRouter(planOf(routerSpec()), undefined, new Map())).toEqual([
      ['netns', 'add', NS],
      ['-n', NS, 'link', 'set', 'dev', 'lo', 'up'],
      ['netns', 'exec', NS, 'sysctl', '-qw', 'net.ipv4.ip_forward=1'],
      ['link', 'add', 'nrq-b1b2c3d4111', 'mtu', '1450', 'type', 'veth', 'peer', 'name', 'qr-b1b2c3d4111', 'netns', NS],
      ['-n', NS, 'link', 'set', 'dev', 'qr-b1b2c3d4111', 'address', 'fa:16:3e:00:00:01', 'mtu', '1450', 'up'],
      ['link', 'set', 'dev', 'nrq-b1b2c3d4111', 'master', 'nb-net1', 'mtu', '1450', 'up'],
      ['link', 'add', 'nrg-c1c2c3d4222', 'type', 'veth', 'peer', 'name', 'qg-c1c2c3d4222', 'netns', NS],
      ['-n', NS, 'link', 'set', 'dev', 'qg-c1c2c3d4222', 'address', 'fa:16:3e:00:00:ff', 'up'],
      ['link', 'set', 'dev', 'nrg-c1c2c3d4222', 'master', 'br-ext', 'up'],
      ['-n', NS, 'addr', 'add', '10.80.0.1/24', 'dev', 'qr-b1b2c3d4111'],
      ['-n', NS, 'addr', 'add', '203.0.113.10/24', 'dev', 'qg-c1c2c3d4222'],
      ['-n', NS, 'route', 'replace', 'default', 'via', '203.0.113.1', 'dev', 'qg-c1c2c3d4222'],
    ]);
  });

  it('puts the peer in the bridge namespace the caller names', () => {
    const spec = routerSpec({ gateway: null, interfaces: [{ ...routerSpec().interfaces[0], bridgeNetns: 'nubo-h1' }] });
    const steps = planRouter(planOf(spec), undefined, new Map());
    expect(steps).toContainEqual(['-n', 'nubo-h1', 'link', 'add', 'nrq-b1b2c3d4111', 'mtu', '1450', 'type', 'veth', 'peer', 'name', 'qr-b1b2c3d4111', 'netns', NS]);
    expect(steps).toContainEqual(['-n', 'nubo-h1', 'link', 'set', 'dev', 'nrq-b1b2c3d4111', 'master', 'nb-net1', 'mtu', '1450', 'up']);
  });

  it('changes nothing on a converged router', () => {
    const { observed, peers } = converged();
    expect(planRouter(planOf(routerSpec()), observed, peers)).toEqual([]);
  });

  it('adds a floating address as /32 and refreshes the default route of the changed gateway', () => {
    const { observed, peers } = converged();
    expect(planRouter(planOf(routerSpec({ floatingIps: [{ floatingIp: '203.0.113.20', fixedIp: '10.80.0.5' }] })), observed, peers)).toEqual([
      ['-n', NS, 'addr', 'add', '203.0.113.20/32', 'dev', 'qg-c1c2c3d4222'],
      ['-n', NS, 'route', 'replace', 'default', 'via', '203.0.113.1', 'dev', 'qg-c1c2c3d4222'],
    ]);
  });

  it('removes a disassociated floating address and fixes a changed MAC', () => {
    const { observed, peers } = converged();
    observed.links[1].addresses.push('203.0.113.20/32');
    observed.links[0].mac = 'fa:16:3e:99:99:99';
    expect(planRouter(planOf(routerSpec()), observed, peers)).toEqual([
      ['-n', NS, 'addr', 'del', '203.0.113.20/32', 'dev', 'qg-c1c2c3d4222'],
      ['-n', NS, 'link', 'set', 'dev', 'qr-b1b2c3d4111', 'address', 'fa:16:3e:00:00:01', 'up'],
      ['-n', NS, 'route', 'replace', 'default', 'via', '203.0.113.1', 'dev', 'qg-c1c2c3d4222'],
    ]);
  });

  it('deletes an interface no longer attached and the gateway of a router that lost it', () => {
    const { observed, peers } = converged();
    observed.links.push({ name: 'qr-0000000000a', mac: 'fa:16:3e:00:00:0a', mtu: 1500, up: true, addresses: ['10.90.0.1/24'] });
    expect(planRouter(planOf(routerSpec({ gateway: null })), observed, peers)).toEqual([
      ['-n', NS, 'link', 'del', 'dev', 'qg-c1c2c3d4222'],
      ['-n', NS, 'link', 'del', 'dev', 'qr-0000000000a'],
    ]);
  });

  it('re-plugs a peer taken off its bridge and recreates a veth whose peer is gone', () => {
    const { observed, peers } = converged();
    peers.set('', [{ name: 'nrq-b1b2c3d4111', mtu: 1450, up: true }]);
    observed.forwarding = false;
    const steps = planRouter(planOf(routerSpec()), observed, peers);
    expect(steps).toEqual([
      ['netns', 'exec', NS, 'sysctl', '-qw', 'net.ipv4.ip_forward=1'],
      ['-n', NS, 'link', 'del', 'dev', 'qg-c1c2c3d4222'],
      ['link', 'set', 'dev', 'nrq-b1b2c3d4111', 'master', 'nb-net1', 'mtu', '1450', 'up'],
      ['link', 'add', 'nrg-c1c2c3d4222', 'type', 'veth', 'peer', 'name', 'qg-c1c2c3d4222', 'netns', NS],
      ['-n', NS, 'link', 'set', 'dev', 'qg-c1c2c3d4222', 'address', 'fa:16:3e:00:00:ff', 'up'],
      ['link', 'set', 'dev', 'nrg-c1c2c3d4222', 'master', 'br-ext', 'up'],
      ['-n', NS, 'addr', 'add', '203.0.113.10/24', 'dev', 'qg-c1c2c3d4222'],
      ['-n', NS, 'route', 'replace', 'default', 'via', '203.0.113.1', 'dev', 'qg-c1c2c3d4222'],
    ]);
  });

  it('drops the default route when the external subnet has no gateway', () => {
    const { observed, peers } = converged();
    expect(planRouter(planOf(routerSpec({ gateway: { ...routerSpec().gateway!, nextHop: null } })), observed, peers)).toEqual([
      ['-n', NS, 'route', 'del', 'default'],
    ]);
  });
});

describe(planRemoval.name, () => {
  it('deletes our links before the namespace, so the peers leave the bridges at once', () => {
    expect(planRemoval(converged().observed)).toEqual([
      ['-n', NS, 'link', 'del', 'dev', 'qr-b1b2c3d4111'],
      ['-n', NS, 'link', 'del', 'dev', 'qg-c1c2c3d4222'],
      ['netns', 'del', NS],
    ]);
  });
});
