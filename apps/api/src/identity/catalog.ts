/** The service catalog: every OpenStack service Nubo answers, all on one base URL. */
import { createHash } from 'node:crypto';

const SERVICES = [
  { type: 'identity', name: 'keystone', path: '/identity' },
  { type: 'compute', name: 'nova', path: '/compute/v2.1' },
  { type: 'network', name: 'neutron', path: '/network' },
  { type: 'image', name: 'glance', path: '/image' },
];

const id = (text: string) => createHash('md5').update(text).digest('hex');

export function buildCatalog(baseUrl: string, region: string) {
  return SERVICES.map((s) => ({
    id: id(`service:${s.type}`),
    type: s.type,
    name: s.name,
    endpoints: (['public', 'internal', 'admin'] as const).map((iface) => ({
      id: id(`endpoint:${s.type}:${iface}`),
      interface: iface,
      region,
      region_id: region,
      url: `${baseUrl}${s.path}`,
    })),
  }));
}
