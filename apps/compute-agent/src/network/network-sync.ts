/**
 * A host's tenant data plane from the network service's desired state (AgentNetworkOps.sync):
 * links first (bridges, VXLAN with its peers, taps), then the whole firewall in one atomic load,
 * so a port's rules are in place before anything can run behind its tap: the spawn that needs the
 * port comes after the sync answered. The firewall is loaded even when a link operation failed
 * (the port's frames are then filtered, fail closed) and the link error is reported after it.
 * Syncs run one at a time, in arrival order; each carries the whole state, so the last one wins.
 */
import { HostNetworkState, NetworkSyncReply, PortPlan } from '@nubo/contracts';
import { NftFirewall, PortFirewallSpec } from './firewall';
import { DesiredDataPlane, HostLinks, RefusedNetwork, bridgeName, tapName } from '@nubo/netlinks';

export interface NetworkHostConfig {
  /** The VXLAN source address (the agent's underlay address). */
  underlayAddress?: string;
  underlayDevice?: string;
  /** The user QEMU runs as: taps are created for it. */
  tapOwner?: string;
  /** Neutron's physical_interface_mappings: provider:physical_network -> host interface. */
  physicalInterfaces: Record<string, string>;
  /** Run once before the first sync (the firewall's host settings: bridge netfilter). */
  prepare?: () => Promise<void>;
}

/** The links the state asks for on this host; flat/vlan networks without a mapped interface are refused here. */
export function desiredLinks(state: HostNetworkState, host: NetworkHostConfig): { desired: DesiredDataPlane; refused: RefusedNetwork[] } {
  const refused: RefusedNetwork[] = [];
  const networks: DesiredDataPlane['networks'] = [];
  for (const n of state.networks) {
    if (n.type === 'vxlan') {
      networks.push({ id: n.id, type: 'vxlan', segmentationId: n.segmentationId ?? undefined, mtu: n.mtu, peers: n.peers });
      continue;
    }
    const physicalInterface = n.physicalNetwork ? host.physicalInterfaces[n.physicalNetwork] : undefined;
    if (!physicalInterface) {
      refused.push({ networkId: n.id, reason: `physical network ${n.physicalNetwork ?? '(none)'} is not mapped to an interface on this host` });
      continue;
    }
    networks.push({ id: n.id, type: n.type, segmentationId: n.segmentationId ?? undefined, mtu: n.mtu, physicalInterface });
  }
  const carried = new Set(networks.map((n) => n.id));
  return {
    desired: {
      underlayAddress: host.underlayAddress,
      underlayDevice: host.underlayDevice,
      tapOwner: host.tapOwner,
      networks,
      ports: state.ports.filter((p) => carried.has(p.networkId)).map((p) => ({ id: p.id, networkId: p.networkId, mac: p.mac })),
    },
    refused,
  };
}

/** The firewall's view of a port: its tap and bridge by the data plane's names, Neutron's field names for the rules. */
export function firewallSpec(port: PortPlan): PortFirewallSpec {
  return {
    portId: port.id,
    tap: tapName(port.id),
    bridge: bridgeName(port.networkId),
    mac: port.mac,
    fixedIps: port.fixedIps,
    allowedAddressPairs: port.allowedAddressPairs.map((p) => ({ ip_address: p.ipAddress, mac_address: p.macAddress ?? null })),
    portSecurityEnabled: port.portSecurityEnabled,
    rules: port.rules.map((r) => ({
      direction: r.direction,
      ethertype: r.ethertype,
      protocol: r.protocol ?? null,
      port_range_min: r.portRangeMin ?? null,
      port_range_max: r.portRangeMax ?? null,
      remote_ip_prefix: r.remoteIpPrefix ?? null,
      remote_group_prefixes: r.remoteGroupPrefixes ?? null,
    })),
  };
}

export class NetworkSync {
  private queue: Promise<unknown> = Promise.resolve();
  private prepared?: Promise<void>;

  constructor(
    private readonly links: Pick<HostLinks, 'converge'>,
    private readonly firewall: Pick<NftFirewall, 'apply'>,
    private readonly host: NetworkHostConfig,
  ) {}

  sync(state: HostNetworkState): Promise<NetworkSyncReply> {
    const result = this.queue.then(() => this.run(state));
    this.queue = result.catch(() => undefined);
    return result;
  }

  private async run(state: HostNetworkState): Promise<NetworkSyncReply> {
    // A failed preparation is tried again by the next sync.
    this.prepared ??= (this.host.prepare?.() ?? Promise.resolve()).catch((error: unknown) => {
      this.prepared = undefined;
      throw error;
    });
    await this.prepared;
    const { desired, refused } = desiredLinks(state, this.host);
    let linkError: unknown;
    let linkOps = 0;
    try {
      const plan = await this.links.converge(desired);
      linkOps = plan.ops.length;
      refused.push(...plan.refused);
    } catch (error) {
      linkError = error;
    }
    // Every port of the state, carried or not: a port whose network was refused is blocked by its rules all the same.
    const applied = await this.firewall.apply(state.ports.map(firewallSpec));
    if (linkError) throw linkError;
    return {
      linkOps,
      refusedNetworks: refused,
      blockedPorts: applied.outcomes
        .filter((o) => o.status === 'blocked' || o.status === 'unfilterable')
        .map((o) => ({ portId: o.portId, reason: o.error?.message ?? o.status })),
    };
  }
}
