/** The network node's L3 data plane: Neutron routers as namespaces with their NAT in nftables. */
export type { RouterDataplaneOptions, RouterLeaks, RouterSyncResult } from './router-dataplane';
export { RouterDataplane } from './router-dataplane';
export type { BridgeAttachment, FloatingIpSpec, RouterGatewaySpec, RouterInterfaceSpec, RouterPlan, RouterSpec, RouterValidation } from './router-spec';
export { validateRouter } from './router-spec';
export { renderRouterNft } from './router-nft';
export type { RouterCommandRunner } from './router-commands';
export { ExecRouterCommandRunner, RouterCommandError } from './router-commands';
export { DEFAULT_ROUTER_NAMESPACE_PREFIX, ROUTER_NFT_TABLE, routerLinkNames, routerNamespace } from './router-names';
