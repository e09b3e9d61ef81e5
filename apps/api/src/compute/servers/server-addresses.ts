/**
 * Nova's `addresses` of server views, from the network service (network.binding.addresses): one
 * call per response, for the servers of it that asked for networks. A view never fails for it:
 * when the network service does not answer, the servers show `addresses: {}` and a warning is logged.
 */
import { Logger } from '@nestjs/common';
import { NetworkBindingOps, ServerAddress, subjects } from '@nubo/contracts';
import { RpcClient } from '@nubo/messaging';
import { DataSource } from 'typeorm';

export type NovaAddresses = Record<string, Array<Record<string, unknown>>>;

/** `{"<network name>": [{addr, version, OS-EXT-IPS:type, OS-EXT-IPS-MAC:mac_addr}]}`, in port order. Pure. */
export function addressesView(addresses: ReadonlyArray<ServerAddress> | undefined): NovaAddresses {
  const view: NovaAddresses = {};
  for (const a of addresses ?? []) {
    (view[a.network] ??= []).push({ version: a.version, addr: a.addr, 'OS-EXT-IPS:type': 'fixed', 'OS-EXT-IPS-MAC:mac_addr': a.mac });
  }
  return view;
}

const logger = new Logger('ServerAddresses');

/** Each server's Nova `addresses` (servers without networks: {}); never throws for the network service. */
export async function serverAddresses(
  db: DataSource,
  rpc: RpcClient,
  serverIds: ReadonlyArray<string>,
  requestId: string,
): Promise<Map<string, NovaAddresses>> {
  const views = new Map<string, NovaAddresses>(serverIds.map((id) => [id, {}]));
  if (serverIds.length === 0) return views;
  const rows: Array<{ id: string }> = await db.query(
    `SELECT id FROM compute.servers WHERE id = ANY($1::uuid[]) AND jsonb_array_length(COALESCE(requested_networks, '[]'::jsonb)) > 0`,
    [serverIds],
  );
  if (rows.length === 0) return views;
  const ids = rows.map((r) => r.id);
  try {
    const op = NetworkBindingOps.addresses;
    const reply = await rpc.call(subjects.service('network', op.op), op, { serverIds: ids }, { requestId });
    for (const id of ids) views.set(id, addressesView(reply.servers[id]));
  } catch (error) {
    logger.warn(`addresses of ${ids.length} server(s) not shown: ${(error as Error).message} requestId=${requestId}`);
  }
  return views;
}
