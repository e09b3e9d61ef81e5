import { env, infraSchema, loadConfigOrExit } from '@nubo/config';

const { NUBO_REDIS_URL: _redis, ...base } = infraSchema;
export const networkSchema = {
  ...base,
  NUBO_HEALTH_PORT: env.port({ default: 8782 }),
  /** VXLAN ids handed to tenant networks, `first-last` inclusive (Neutron's vni_ranges). */
  NUBO_NETWORK_VNI_RANGE: env.string({ default: '1000-1999', pattern: /^\d{1,8}-\d{1,8}$/ }),
  /** The network node's underlay address: set, this service runs the node's data plane (DHCP). */
  NUBO_NETWORK_NODE_UNDERLAY_IP: env.optionalString(),
  /** The namespace holding the network node's data plane (the all-in-one cloud's `<cloud>-net`). */
  NUBO_NETWORK_NODE_NETNS: env.optionalString(),
  /** The node's id as a port binding host. */
  NUBO_NETWORK_NODE_ID: env.string({ default: 'network-node', pattern: /^[A-Za-z0-9_-]{1,64}$/ }),
  /** `<physical network>:<interface>,...` on the node: flat networks (the external one) bridge these. */
  NUBO_NETWORK_NODE_PHYSICAL_INTERFACES: env.string({ default: '' }),
  /** dnsmasq's files (every parent must be o+x: dnsmasq reads them as nobody). */
  NUBO_NETWORK_STATE_DIR: env.string({ default: '/var/lib/nubo/network' }),
};
export type NetworkConfig = ReturnType<typeof loadNetworkConfig>;
export const loadNetworkConfig = () => loadConfigOrExit(networkSchema, 'network');

export interface VniRange {
  first: number;
  last: number;
}
/** The VNI range of the config; a reversed or out-of-bounds range fails startup. */
export function vniRange(text: string): VniRange {
  const [first, last] = text.split('-').map(Number);
  if (first < 1 || last > 16_777_215 || first > last) throw new Error(`NUBO_NETWORK_VNI_RANGE "${text}" must be first-last within 1-16777215`);
  return { first, last };
}
export const VNI_RANGE = Symbol('VNI_RANGE');
