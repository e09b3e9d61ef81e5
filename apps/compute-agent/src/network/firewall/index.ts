/** Security groups and port security of the compute agent's data plane, in nftables. */
export * from './firewall-spec';
export type { FirewallDrift, FirewallListing, FirewallObject } from './firewall-leaks';
export { findDrift, parseListing } from './firewall-leaks';
export type { CompiledRuleset } from './nft-ruleset';
export { compileRuleset, DEFAULT_TABLE, resetTables } from './nft-ruleset';
export type { FirewallApplyResult, NftFirewallOptions } from './nft-firewall';
export { NftFirewall } from './nft-firewall';
export type { NftRunOptions } from './nft-runner';
export { NftCommandError, nftCommand } from './nft-runner';
export { validatePort } from './port-validation';
export { bridgeNetfilterCommand, enableBridgeNetfilter } from './bridge-netfilter';
export { bridgeZones } from './conntrack-zones';
