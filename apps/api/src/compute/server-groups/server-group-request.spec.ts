import { validationFieldOf } from '@nubo/testing';
import { ValidationError } from '@nubo/contracts';
import { parseCreateKeypair } from '../keypairs/keypairs.service';
import { parseCreateGroup } from './server-group-request';

const fieldOf = validationFieldOf;

describe('tenant resource requests', () => {
  describe('parseCreateGroup', () => {
    it.each(['anti-affinity', 'affinity', 'soft-anti-affinity', 'soft-affinity'])('accepts policy %s', (policy) => {
      expect(parseCreateGroup({ server_group: { name: 'g', policies: [policy] } })).toEqual({ name: 'g', policy });
    });

    it.each([
      ['no server_group', {}, 'server_group'],
      ['no name', { server_group: { policies: ['affinity'] } }, 'name'],
      ['empty name', { server_group: { name: '', policies: ['affinity'] } }, 'name'],
      ['no policies', { server_group: { name: 'g' } }, 'policies'],
      ['policies not a list', { server_group: { name: 'g', policies: 'affinity' } }, 'policies'],
      ['no policy', { server_group: { name: 'g', policies: [] } }, 'policies'],
      ['two policies', { server_group: { name: 'g', policies: ['affinity', 'anti-affinity'] } }, 'policies'],
      ['unknown policy', { server_group: { name: 'g', policies: ['spread'] } }, 'policies'],
      ['2.64 form', { server_group: { name: 'g', policy: 'affinity' } }, 'server_group'],
    ])('names the field: %s', (_what, body, field) => {
      expect(fieldOf(() => parseCreateGroup(body))).toBe(field);
    });
  });

  describe('parseCreateKeypair', () => {
    it('reads the name and an optional public key', () => {
      expect(parseCreateKeypair({ keypair: { name: 'my key_1-a' } })).toEqual({ name: 'my key_1-a', publicKey: undefined });
      expect(parseCreateKeypair({ keypair: { name: 'k', public_key: 'ssh-rsa AAAA' } })).toEqual({ name: 'k', publicKey: 'ssh-rsa AAAA' });
    });

    it.each([
      ['no keypair', {}, 'keypair'],
      ['no name', { keypair: {} }, 'name'],
      ['long name', { keypair: { name: 'k'.repeat(256) } }, 'name'],
      ['unsafe characters', { keypair: { name: 'a.b@c' } }, 'name'],
      ['numeric public key', { keypair: { name: 'k', public_key: 5 } }, 'public_key'],
      ['type at 2.1', { keypair: { name: 'k', type: 'ssh' } }, 'keypair'],
    ])('names the field: %s', (_what, body, field) => {
      expect(fieldOf(() => parseCreateKeypair(body))).toBe(field);
    });

    it('says unsafe characters like Nova', () => {
      expect(() => parseCreateKeypair({ keypair: { name: 'a.b' } })).toThrow('Keypair data is invalid: Keypair name contains unsafe characters');
    });
  });
});
