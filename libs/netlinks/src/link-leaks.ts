/**
 * What the data plane left on a host: our devices (link-names.ts) and the remote FDB entries on
 * them. After a test that removed every network and port, this must be empty. Pure.
 */
import { ObservedDataPlane } from './data-plane-types';
import { OwnedLinkRole, ownedRole } from './link-names';

export type LinkLeak =
  | { kind: 'link'; name: string; role: OwnedLinkRole }
  | { kind: 'fdb'; device: string; mac: string; dst: string };

export function findLinkLeaks(observed: Pick<ObservedDataPlane, 'links' | 'fdb'>): LinkLeak[] {
  const links = observed.links.flatMap((link): LinkLeak[] => {
    const role = ownedRole(link.name);
    return role ? [{ kind: 'link', name: link.name, role }] : [];
  });
  const fdb = observed.fdb.flatMap((entry): LinkLeak[] => (ownedRole(entry.device) ? [{ kind: 'fdb', ...entry }] : []));
  return [...links, ...fdb];
}

export function describeLeak(leak: LinkLeak): string {
  return leak.kind === 'link' ? `${leak.role} ${leak.name}` : `fdb ${leak.mac} dst ${leak.dst} on ${leak.device}`;
}
