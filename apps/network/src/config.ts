import { env, infraSchema, loadConfigOrExit } from '@nubo/config';

const { NUBO_REDIS_URL: _redis, ...base } = infraSchema;
export const networkSchema = {
  ...base,
  NUBO_HEALTH_PORT: env.port({ default: 8782 }),
  /** VXLAN ids handed to tenant networks, `first-last` inclusive (Neutron's vni_ranges). */
  NUBO_NETWORK_VNI_RANGE: env.string({ default: '1000-1999', pattern: /^\d{1,8}-\d{1,8}$/ }),
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
