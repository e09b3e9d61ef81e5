/**
 * Database steps shared by routers and floating IPs: their quotas, the ports they own (made in the
 * caller's transaction, so a failed step leaves no port behind) and the change signal the network
 * node's router sync listens to.
 */
import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { EntityManager } from 'typeorm';
import { isUniqueViolation } from '../common/db';
import { conflict, overQuota } from '../common/neutron-errors';
import { Allocation, allocateAddresses } from '../ports/ipam';
import { FixedIpRequest, randomMac } from '../ports/port-body';

/** Neutron's default L3 quotas (neutron.conf [quotas] quota_router, quota_floatingip). */
export const L3_QUOTAS = { router: { limit: 10, table: 'network.routers' }, floatingip: { limit: 50, table: 'network.floating_ips' } } as const;

/** OverQuota when one more would pass the limit; the advisory lock makes a project's creates take turns. */
export async function checkL3Quota(m: EntityManager, resource: keyof typeof L3_QUOTAS, projectId: string): Promise<void> {
  await m.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [`neutron-quota:${resource}:${projectId}`]);
  const [{ n }] = await m.query(`SELECT count(*)::int AS n FROM ${L3_QUOTAS[resource].table} WHERE project_id = $1`, [projectId]);
  if (n + 1 > L3_QUOTAS[resource].limit) throw overQuota(resource);
}

export interface L3PortRequest {
  networkId: string;
  /** '' for gateway and floating IP ports, as in Neutron (no tenant sees them). */
  projectId: string;
  deviceId: string;
  deviceOwner: 'network:router_interface' | 'network:router_gateway' | 'network:floatingip';
  fixedIps?: FixedIpRequest[];
}

/**
 * A port for a router or floating IP, with its addresses. Takes the network's row lock first, as
 * port create does, so IPAM on that network takes turns; ip_allocations' key has the last word.
 */
export async function createL3Port(m: EntityManager, r: L3PortRequest): Promise<{ id: string; mac: string; allocations: Allocation[] }> {
  await m.query(`SELECT id FROM network.networks WHERE id = $1 FOR UPDATE`, [r.networkId]);
  const id = randomUUID();
  for (let attempt = 1; ; attempt++) {
    const mac = randomMac();
    await m.query('SAVEPOINT l3_port');
    try {
      await m.query(
        `INSERT INTO network.ports (id, network_id, project_id, mac_address, device_id, device_owner, port_security_enabled, status)
         VALUES ($1, $2, $3, $4, $5, $6, false, $7)`,
        [id, r.networkId, r.projectId, mac, r.deviceId, r.deviceOwner, r.deviceOwner === 'network:floatingip' ? 'N/A' : 'ACTIVE'],
      );
      await m.query('RELEASE SAVEPOINT l3_port');
      const allocations = await allocateAddresses(m, { networkId: r.networkId, portId: id, requests: r.fixedIps, deviceOwner: r.deviceOwner });
      return { id, mac, allocations };
    } catch (error) {
      if (!isUniqueViolation(error, 'ports_mac')) throw error;
      await m.query('ROLLBACK TO SAVEPOINT l3_port');
      if (attempt >= 8) throw conflict('MacAddressGenerationFailure', `Unable to generate unique mac on network ${r.networkId}.`);
    }
  }
}

/** Signals committed router and floating IP changes (the router sync subscribes). */
@Injectable()
export class L3Changes {
  private readonly listeners: Array<() => void> = [];

  subscribe(listener: () => void): void {
    this.listeners.push(listener);
  }

  notify(): void {
    for (const l of this.listeners) l();
  }
}
