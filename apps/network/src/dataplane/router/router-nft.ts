/**
 * The NAT of one router as nftables text (`table ip nubo_router`), loaded with one `nft -f -` in
 * the router's namespace. The file deletes and redeclares the table, which nft applies as one
 * transaction: the old NAT holds until the new one is in. Only values from a validated
 * `RouterPlan` reach it (addresses we printed, interface names we derived). Pure.
 */
import { ROUTER_NFT_TABLE } from './router-names';
import { RouterPlan } from './router-spec';

const set = (items: string[]) => (items.length === 1 ? items[0] : `{ ${items.join(', ')} }`);
const map = (pairs: Array<[string, string]>) => `{ ${pairs.map(([k, v]) => `${k} : ${v}`).join(', ')} }`;

/**
 * - Floating IPs: DNAT floating -> fixed whatever the input interface (so a VM may reach another's
 *   floating address: hairpin), SNAT fixed -> floating on the way out of the gateway.
 * - Hairpin: a DNATed connection from an internal subnet going back inside is masqueraded to the
 *   router's inside address, else the server would answer its peer directly, bypassing the NAT.
 * - SNAT to the gateway address (not masquerade: the address is known and fixed, so no per-packet
 *   address choice, which could pick a floating /32 of the same interface) when enable_snat.
 * The first matching NAT rule decides, so floating SNAT comes before the router's.
 */
export function renderRouterNft(plan: RouterPlan): string {
  const pre: string[] = [];
  const post: string[] = [];
  const gw = plan.gateway;
  if (gw && plan.floatingIps.length) {
    pre.push(`dnat to ip daddr map ${map(plan.floatingIps.map((f) => [f.floatingIp, f.fixedIp]))}`);
    post.push(`oifname "${gw.name}" snat to ip saddr map ${map(plan.floatingIps.map((f) => [f.fixedIp, f.floatingIp]))}`);
    post.push(`oifname != "${gw.name}" ip saddr ${set(plan.internalNetworks)} ct status dnat masquerade`);
  }
  if (gw?.enableSnat && plan.internalNetworks.length) {
    post.push(`oifname "${gw.name}" ip saddr ${set(plan.internalNetworks)} snat to ${gw.address}`);
  }
  const chain = (name: string, hook: string, priority: string, rules: string[]) => [
    `\tchain ${name} {`,
    `\t\ttype nat hook ${hook} priority ${priority}; policy accept;`,
    ...rules.map((r) => `\t\t${r}`),
    '\t}',
  ];
  return [
    `table ip ${ROUTER_NFT_TABLE} {}`,
    `delete table ip ${ROUTER_NFT_TABLE}`,
    `table ip ${ROUTER_NFT_TABLE} {`,
    ...chain('prerouting', 'prerouting', 'dstnat', pre),
    ...chain('postrouting', 'postrouting', 'srcnat', post),
    '}',
    '',
  ].join('\n');
}
