/** Nova's interfaceAttachment from a Neutron port (as the network service answers it). Pure. */
export interface InterfaceAttachmentView {
  port_state: string;
  fixed_ips: Array<{ subnet_id: string; ip_address: string }>;
  port_id: string;
  net_id: string;
  mac_addr: string;
}

export function interfaceAttachmentView(port: Record<string, unknown>): InterfaceAttachmentView {
  const fixedIps = Array.isArray(port.fixed_ips) ? (port.fixed_ips as Array<Record<string, unknown>>) : [];
  return {
    port_state: String(port.status ?? 'DOWN'),
    fixed_ips: fixedIps.map((ip) => ({ subnet_id: String(ip.subnet_id), ip_address: String(ip.ip_address) })),
    port_id: String(port.id),
    net_id: String(port.network_id),
    mac_addr: String(port.mac_address),
  };
}
