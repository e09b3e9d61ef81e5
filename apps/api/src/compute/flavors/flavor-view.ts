/** Nova's flavor JSON at microversion 2.1 (no description, no embedded extra specs). */
import { FlavorEntity } from '@nubo/database';

export function flavorLinks(baseUrl: string, id: string) {
  return [
    { rel: 'self', href: `${baseUrl}/compute/v2.1/flavors/${id}` },
    { rel: 'bookmark', href: `${baseUrl}/compute/flavors/${id}` },
  ];
}

export function flavorBrief(f: FlavorEntity, baseUrl: string) {
  return { id: f.id, name: f.name, links: flavorLinks(baseUrl, f.id) };
}

export function flavorView(f: FlavorEntity, baseUrl: string) {
  return {
    id: f.id,
    name: f.name,
    ram: f.ramMb,
    disk: f.diskGb,
    vcpus: f.vcpus,
    swap: f.swapMb || '',
    'OS-FLV-EXT-DATA:ephemeral': f.ephemeralGb,
    'OS-FLV-DISABLED:disabled': false,
    'os-flavor-access:is_public': f.isPublic,
    rxtx_factor: Number(f.rxtxFactor ?? 1),
    links: flavorLinks(baseUrl, f.id),
  };
}
