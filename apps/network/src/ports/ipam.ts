/**
 * IP address management. Callers hold the network's row lock (FOR UPDATE), so allocations on one
 * network take turns; the primary key (subnet_id, ip_address) of ip_allocations refuses a
 * duplicate all the same.
 */
import { EntityManager } from 'typeorm';
import { isUniqueViolation } from '../common/db';
import { Range, contains, firstFree, formatIp, parseIp, usableRange } from '../common/ipv4';
import { badRequest, conflict } from '../common/neutron-errors';
import { SubnetRow, cidrOf, poolsOf } from '../subnets/subnets.service';
import { FixedIpRequest } from './port-body';

export interface Allocation {
  subnetId: string;
  ip: number;
}

interface SubnetState {
  row: SubnetRow;
  pools: Range[];
  gateway: number | null;
  taken: Set<number>;
}

const alreadyAllocated = (ip: number, subnetId: string) =>
  conflict('IpAddressAlreadyAllocated', `IP address ${formatIp(ip)} already allocated in subnet ${subnetId}`);
const exhausted = (networkId: string) => conflict('IpAddressGenerationFailure', `No more IP addresses available on network ${networkId}.`);

/**
 * Picks the addresses a port asked for: without a request, the first free address of the first
 * subnet that has one; otherwise each request in turn (a given address if free, else the first free
 * one of the given subnet). Pure given the subnets' state, so that unit tests can drive it.
 */
export function pickAddresses(networkId: string, subnets: SubnetState[], requests: FixedIpRequest[] | undefined, routerPort: boolean): Allocation[] {
  if (requests === undefined) {
    if (!subnets.length) return [];
    for (const s of subnets) {
      const ip = firstFree(s.pools, s.taken);
      if (ip !== undefined) return [{ subnetId: s.row.id, ip }];
    }
    throw exhausted(networkId);
  }
  return requests.map((request) => {
    const subnet = request.subnetId
      ? subnets.find((s) => s.row.id === request.subnetId)
      : subnets.find((s) => contains(cidrOf(s.row), request.ipAddress!));
    if (!subnet) {
      throw request.subnetId
        ? badRequest(`Invalid input for operation: Failed to create port on network ${networkId}, because fixed_ips included invalid subnet ${request.subnetId}.`, 'fixed_ips')
        : badRequest(`IP address ${formatIp(request.ipAddress!)} is not a valid IP for any of the subnets on the specified network.`, 'fixed_ips');
    }
    let ip = request.ipAddress;
    if (ip === undefined) {
      ip = firstFree(subnet.pools, subnet.taken);
      if (ip === undefined) throw exhausted(networkId);
    } else {
      const usable = usableRange(cidrOf(subnet.row));
      if (!contains(cidrOf(subnet.row), ip) || ip < usable.first || ip > usable.last) {
        throw badRequest(`IP address ${formatIp(ip)} is not a valid IP for the specified subnet.`, 'fixed_ips');
      }
      // The gateway belongs to the router that will hold it.
      if (subnet.taken.has(ip) || (ip === subnet.gateway && !routerPort)) throw alreadyAllocated(ip, subnet.row.id);
    }
    subnet.taken.add(ip);
    return { subnetId: subnet.row.id, ip };
  });
}

/** Allocates and records a port's addresses; call inside a transaction holding the network's row lock. */
export async function allocateAddresses(
  m: EntityManager,
  o: { networkId: string; portId: string; requests: FixedIpRequest[] | undefined; deviceOwner: string },
): Promise<Allocation[]> {
  const rows: SubnetRow[] = await m.query(
    `SELECT s.*, host(s.gateway_ip) AS gateway_ip FROM network.subnets s WHERE s.network_id = $1 ORDER BY s.created_at, s.id`,
    [o.networkId],
  );
  const taken: Array<{ subnet_id: string; ip: string }> = await m.query(
    `SELECT subnet_id, host(ip_address) AS ip FROM network.ip_allocations WHERE network_id = $1`,
    [o.networkId],
  );
  const subnets = rows.map((row) => ({
    row,
    pools: poolsOf(row),
    gateway: row.gateway_ip === null ? null : parseIp(row.gateway_ip)!,
    taken: new Set(taken.filter((t) => t.subnet_id === row.id).map((t) => parseIp(t.ip)!)),
  }));
  const picked = pickAddresses(o.networkId, subnets, o.requests, o.deviceOwner.startsWith('network:router'));
  for (const a of picked) {
    try {
      await m.query(`INSERT INTO network.ip_allocations (subnet_id, ip_address, port_id, network_id) VALUES ($1, $2, $3, $4)`, [
        a.subnetId, formatIp(a.ip), o.portId, o.networkId,
      ]);
    } catch (error) {
      if (isUniqueViolation(error)) throw alreadyAllocated(a.ip, a.subnetId);
      throw error;
    }
  }
  return picked;
}
