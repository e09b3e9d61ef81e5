import { ConflictError } from '@nubo/contracts';
import { l3OwnerTable, refuseL3PortDelete, servicePortInUse } from './service-port-guard';

const PORT = '6f1c1d52-8c2b-4a55-9d0e-5a1f0c2b7e10';
const OWNER = 'a3b0c2d4-1111-4222-8333-444455556666';

/** An EntityManager whose query answers rows when the owner exists. */
const managerWith = (exists: boolean) => {
  const calls: Array<{ sql: string; params: unknown[] }> = [];
  return { calls, m: { query: async (sql: string, params: unknown[]) => (calls.push({ sql, params }), exists ? [{ '?column?': 1 }] : []) } as never };
};

describe('service-port-guard', () => {
  describe('l3OwnerTable', () => {
    it.each([
      ['network:router_interface', 'network.routers'],
      ['network:router_gateway', 'network.routers'],
      ['network:floatingip', 'network.floating_ips'],
      ['compute:nova', undefined],
      ['network:dhcp', undefined],
      ['', undefined],
    ])('maps %p to %p', (owner, table) => expect(l3OwnerTable(owner)).toBe(table));
  });

  describe('servicePortInUse', () => {
    it("is a 409 with Neutron's type and message", () => {
      const error = servicePortInUse({ id: PORT, device_id: OWNER, device_owner: 'network:router_interface' });
      expect(error).toBeInstanceOf(ConflictError);
      expect(error.details.type).toBe('ServicePortInUse');
      expect(error.message).toBe(`Port ${PORT} cannot be deleted directly via the port API: has device owner network:router_interface.`);
    });
  });

  describe('refuseL3PortDelete', () => {
    it('refuses a router interface port whose router exists', async () => {
      const { m, calls } = managerWith(true);
      await expect(refuseL3PortDelete(m, { id: PORT, device_id: OWNER, device_owner: 'network:router_interface' })).rejects.toThrow(/has device owner/);
      expect(calls).toEqual([{ sql: 'SELECT 1 FROM network.routers WHERE id = $1', params: [OWNER] }]);
    });

    it('refuses a floating IP port whose floating IP exists', async () => {
      const { m, calls } = managerWith(true);
      await expect(refuseL3PortDelete(m, { id: PORT, device_id: OWNER, device_owner: 'network:floatingip' })).rejects.toThrow(ConflictError);
      expect(calls[0].sql).toContain('network.floating_ips');
    });

    it('lets an orphan L3 port go (its router is gone)', async () => {
      await expect(refuseL3PortDelete(managerWith(false).m, { id: PORT, device_id: OWNER, device_owner: 'network:router_gateway' })).resolves.toBeUndefined();
    });

    it('asks nothing for a compute port or an L3 port without a UUID device_id', async () => {
      const compute = managerWith(true);
      await refuseL3PortDelete(compute.m, { id: PORT, device_id: OWNER, device_owner: 'compute:nova' });
      const odd = managerWith(true);
      await refuseL3PortDelete(odd.m, { id: PORT, device_id: 'not-a-uuid', device_owner: 'network:router_interface' });
      expect([...compute.calls, ...odd.calls]).toEqual([]);
    });
  });
});
