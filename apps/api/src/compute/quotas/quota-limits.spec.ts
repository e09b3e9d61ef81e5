import { validationFieldOf } from '@nubo/testing';
import { ValidationError } from '@nubo/contracts';
import { QUOTA_DEFAULTS, checkNotBelowUsage, firstOver, parseQuotaUpdate, quotaExceededMessage, resolveLimits } from './quota-limits';

const fieldOf = validationFieldOf;

describe('quota limits', () => {
  describe('quotaExceededMessage', () => {
    it.each([
      [{ resource: 'instances', requested: 1, used: 5, allowed: 5 }, 'Quota exceeded for instances: Requested 1, but already used 5 of 5 instances'],
      [{ resource: 'cores', requested: 4, used: 18, allowed: 20 }, 'Quota exceeded for cores: Requested 4, but already used 18 of 20 cores'],
      [{ resource: 'ram', requested: 2048, used: 50000, allowed: 51200 }, 'Quota exceeded for ram: Requested 2048, but already used 50000 of 51200 ram'],
    ])('writes Nova\'s message for %j', (check, message) => {
      expect(quotaExceededMessage(check)).toBe(message);
    });
  });

  describe('firstOver', () => {
    const check = (resource: string, requested: number, used: number, allowed: number) => ({ resource, requested, used, allowed });
    it.each([
      ['room left', [check('instances', 1, 4, 5)], undefined],
      ['exactly full after', [check('instances', 1, 4, 5), check('cores', 2, 18, 20)], undefined],
      ['instances full', [check('instances', 1, 5, 5), check('cores', 1, 0, 20)], 'instances'],
      ['cores over, instances fine', [check('instances', 1, 0, 10), check('cores', 8, 16, 20), check('ram', 1, 0, 1)], 'cores'],
      ['ram over', [check('instances', 1, 0, 10), check('cores', 1, 0, 20), check('ram', 4096, 50000, 51200)], 'ram'],
      ['unlimited', [check('instances', 1, 1000, -1)], undefined],
      ['zero limit', [check('instances', 1, 0, 0)], 'instances'],
      ['nothing requested', [check('cores', 0, 30, 20)], undefined],
    ])('%s', (_what, checks, over) => {
      expect(firstOver(checks)?.resource).toBe(over);
    });
  });

  describe('resolveLimits', () => {
    it('lays stored rows over the defaults and ignores unknown resources', () => {
      const limits = resolveLimits([{ resource: 'instances', hard_limit: 5 }, { resource: 'ram', hard_limit: -1 }, { resource: 'bogus', hard_limit: 1 }]);
      expect(limits).toEqual({ ...QUOTA_DEFAULTS, instances: 5, ram: -1 });
    });

    it('has Nova\'s defaults', () => {
      expect(resolveLimits([])).toMatchObject({
        instances: 10, cores: 20, ram: 51200, key_pairs: 100, server_groups: 10, server_group_members: 10, metadata_items: 128,
      });
    });
  });

  describe('parseQuotaUpdate', () => {
    it('accepts integers, digit strings, -1 and force', () => {
      expect(parseQuotaUpdate({ quota_set: { instances: 5, cores: '8', ram: -1, force: 'True' } })).toEqual({
        values: { instances: 5, cores: 8, ram: -1 },
        force: true,
      });
    });

    it.each([
      ['no quota_set', {}, 'quota_set'],
      ['quota_set not an object', { quota_set: [] }, 'quota_set'],
      ['unknown resource', { quota_set: { instances: 1, bogus: 2 } }, 'quota_set'],
      ['word for instances', { quota_set: { instances: 'ten' } }, 'instances'],
      ['float for cores', { quota_set: { cores: 1.5 } }, 'cores'],
      ['below -1', { quota_set: { ram: -2 } }, 'ram'],
      ['too big', { quota_set: { key_pairs: 2 ** 31 } }, 'key_pairs'],
      ['boolean for server_groups', { quota_set: { server_groups: true } }, 'server_groups'],
      ['bad force', { quota_set: { force: 'maybe' } }, 'force'],
    ])('names the field: %s', (_what, body, field) => {
      expect(fieldOf(() => parseQuotaUpdate(body))).toBe(field);
    });
  });

  describe('checkNotBelowUsage', () => {
    it('refuses a limit below what is used, in Nova\'s words', () => {
      expect(() => checkNotBelowUsage({ instances: 2 }, { instances: 3 })).toThrow(
        'Quota limit 2 for instances must be greater than or equal to already used and reserved 3.',
      );
    });

    it('allows unlimited and limits at or above usage', () => {
      expect(() => checkNotBelowUsage({ instances: -1, cores: 3, ram: 4096 }, { instances: 9, cores: 3, ram: 1024 })).not.toThrow();
    });
  });
});
