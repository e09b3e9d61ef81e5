import { ForbiddenError, ValidationError } from '@nubo/contracts';
import { ServerEntity } from '@nubo/database';
import { JobQueue } from '@nubo/jobs';
import { DataSource } from 'typeorm';
import { AuthContext } from '../../common/auth-context';
import { EvacuateService } from './evacuate.service';

describe(EvacuateService.name, () => {
  const touched: string[] = [];
  const db = { transaction: async () => touched.push('db'), query: async () => touched.push('db') } as unknown as DataSource;
  const jobs = { enqueue: async () => touched.push('queue') } as unknown as JobQueue;
  const service = new EvacuateService(db, jobs);
  const server = { id: 'b2c4c6a8-0000-4000-8000-000000000001', hostId: 'h1' } as ServerEntity;
  const member = { userId: 'u', isAdmin: false } as AuthContext;

  beforeEach(() => touched.splice(0));

  describe('act', () => {
    it('leaves other actions alone', async () => {
      await expect(service.act('os-stop', { 'os-stop': null }, server, member, 'req')).resolves.toBeUndefined();
    });

    it.each([
      ['a bad body (checked before the policy, as Nova)', { evacuate: { force: true } }, '2.1', ValidationError],
      ['a member', { evacuate: {} }, '2.14', ForbiddenError],
    ])('refuses %s and writes nothing', async (_what, body, version, type) => {
      await expect(service.act('evacuate', body, server, member, 'req', version)).rejects.toBeInstanceOf(type);
      expect(touched).toEqual([]);
    });

    it("names Nova's policy in the 403", async () => {
      await expect(service.act('evacuate', { evacuate: {} }, server, member, 'req', '2.14')).rejects.toThrow(
        "Policy doesn't allow os_compute_api:os-evacuate to be performed.",
      );
    });
  });
});
