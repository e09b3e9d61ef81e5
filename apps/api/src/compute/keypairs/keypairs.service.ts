/**
 * Nova key pairs: they belong to the user (names unique per user), counted against the key_pairs
 * quota of the project the user is working in.
 */
import { Inject, Injectable } from '@nestjs/common';
import { ConflictError, NotFoundError, ValidationError } from '@nubo/contracts';
import { KeyPairEntity } from '@nubo/database';
import { DataSource } from 'typeorm';
import { invalid, onlyKeys, optionalString, requireObject, requireString } from '../../common/validation';
import { atLeast } from '../microversion';
import { QuotaService } from '../quotas/quota.service';
import { fingerprintOf, generateRsaKeyPair, parsePublicKey } from './ssh-keys';
import { generateX509KeyPair, x509Fingerprint } from './x509-keys';

export interface CreateKeypairRequest {
  name: string;
  publicKey?: string;
  /** Microversion 2.2: ssh (default) or x509. */
  type?: KeypairType;
  /** Microversion 2.10: an admin creating the key for another user. */
  userId?: string;
}

export type KeypairType = 'ssh' | 'x509';

export interface CreatedKeypair {
  keypair: KeyPairEntity;
  /** Only when the key was generated here; it is never stored. */
  privateKey?: string;
}

const SAFE_NAME = /^[A-Za-z0-9_ -]+$/;

/** {"keypair": {"name", "public_key"?}} at 2.1, "type" from 2.2, "user_id" from 2.10; Nova's checks and messages. */
export function parseCreateKeypair(body: unknown, version = '2.1'): CreateKeypairRequest {
  const keypair = requireObject(requireObject(body, 'body').keypair, 'keypair');
  onlyKeys(keypair, 'keypair', ['name', 'public_key', ...(atLeast(version, '2.2') ? ['type'] : []), ...(atLeast(version, '2.10') ? ['user_id'] : [])]);
  const name = requireString(keypair, 'name', { min: 1, max: 255, trimmed: true });
  if (!SAFE_NAME.test(name)) throw new ValidationError('Keypair data is invalid: Keypair name contains unsafe characters', 'name');
  const publicKey = optionalString(keypair, 'public_key');
  const type = keypair.type;
  if (type !== undefined && type !== 'ssh' && type !== 'x509') invalid('type', type, `${JSON.stringify(type)} is not one of ['ssh', 'x509']`);
  const userId = optionalString(keypair, 'user_id', { min: 1, max: 255 });
  return { name, publicKey, ...(type !== undefined ? { type: type as KeypairType } : {}), ...(userId !== undefined ? { userId } : {}) };
}

@Injectable()
export class KeypairsService {
  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(QuotaService) private readonly quotas: QuotaService,
  ) {}

  async create(request: CreateKeypairRequest, o: { userId: string; projectId: string }): Promise<CreatedKeypair> {
    let publicKey = request.publicKey;
    let privateKey: string | undefined;
    let fingerprint: string;
    const type = request.type ?? 'ssh';
    if (publicKey !== undefined) {
      fingerprint = type === 'x509' ? x509Fingerprint(publicKey) : fingerprintOf(parsePublicKey(publicKey).blob);
    } else {
      const generated = type === 'x509' ? await generateX509KeyPair(o.userId) : await generateRsaKeyPair();
      ({ publicKey, privateKey, fingerprint } = generated);
    }
    const keypair = await this.db.transaction(async (tx) => {
      await this.quotas.lock(tx, `user:${o.userId}`);
      const [{ used }] = await tx.query(`SELECT count(*)::int AS used FROM compute.key_pairs WHERE user_id = $1`, [o.userId]);
      await this.quotas.checkCount(tx, { projectId: o.projectId, resource: 'key_pairs', used, message: 'Quota exceeded, too many key pairs.' });
      const rows: Array<{ id: string }> = await tx.query(
        `INSERT INTO compute.key_pairs (user_id, project_id, name, type, public_key, fingerprint)
         VALUES ($1, $2, $3, $6, $4, $5) ON CONFLICT (user_id, name) DO NOTHING RETURNING id`,
        [o.userId, o.projectId, request.name, publicKey, fingerprint, type],
      );
      if (!rows.length) throw new ConflictError(`Key pair '${request.name}' already exists.`);
      return tx.getRepository(KeyPairEntity).findOneByOrFail({ id: rows[0].id });
    });
    return { keypair, privateKey };
  }

  list(userId: string): Promise<KeyPairEntity[]> {
    return this.db.getRepository(KeyPairEntity).find({ where: { userId }, order: { name: 'ASC' } });
  }

  async get(userId: string, name: string): Promise<KeyPairEntity> {
    const keypair = await this.db.getRepository(KeyPairEntity).findOneBy({ userId, name });
    if (!keypair) throw new NotFoundError(`Keypair ${name} not found for user ${userId}`);
    return keypair;
  }

  async delete(userId: string, name: string): Promise<void> {
    const [, deleted] = await this.db.query(`DELETE FROM compute.key_pairs WHERE user_id = $1 AND name = $2`, [userId, name]);
    if (!deleted) throw new NotFoundError(`Keypair ${name} not found for user ${userId}`);
  }
}
