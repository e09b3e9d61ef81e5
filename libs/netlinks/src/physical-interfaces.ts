/**
 * The operator's map of physical networks to host interfaces (Neutron's bridge_mappings), as the
 * agents and the network node read it from their environment: `physnet1:eth1,ext:extp`.
 */

const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;
const PHYSNET = /^[A-Za-z0-9_.-]{1,64}$/;

/** `physnet1:eth1,physnet2:veth-ext` -> { physnet1: 'eth1', ... }; a problem (naming `variable`) per bad entry. */
export function parsePhysicalInterfaces(raw: string, problems: string[], variable: string): Record<string, string> {
  const mappings: Record<string, string> = {};
  for (const entry of raw.split(',').map((e) => e.trim()).filter(Boolean)) {
    const [network, device, extra] = entry.split(':');
    if (extra !== undefined || !network || !PHYSNET.test(network) || !device || !IFNAME.test(device)) {
      problems.push(`${variable}: "${entry}" is not <physical network>:<interface>`);
    } else if (network in mappings) {
      problems.push(`${variable}: ${network} is mapped twice`);
    } else mappings[network] = device;
  }
  return mappings;
}
