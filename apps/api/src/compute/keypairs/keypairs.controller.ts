/**
 * Nova os-keypairs. 2.1: create answers 200, delete 202. 2.2: `type` (ssh, x509) in bodies and
 * views, create 201, delete 204. 2.10: an admin names another user (`user_id` in the create body,
 * `?user_id=` on list, show and delete); a member may only name themself (403 otherwise).
 */
import { Body, Controller, Delete, Get, Inject, Param, Post, Query, Res } from '@nestjs/common';
import { ForbiddenError } from '@nubo/contracts';
import { KeyPairEntity } from '@nubo/database';
import type { Response } from 'express';
import { Auth, AuthContext } from '../../common/auth-context';
import { ComputeVersion, atLeast } from '../microversion';
import { novaTime } from '../shared/nova-time';
import { KeypairsService, parseCreateKeypair } from './keypairs.service';

const brief = (k: KeyPairEntity, version: string) => ({
  name: k.name,
  public_key: k.publicKey,
  fingerprint: k.fingerprint,
  ...(atLeast(version, '2.2') ? { type: k.type } : {}),
});

/** The user whose keys a call reads: the caller, or from 2.10 whom `user_id` names (admins, or oneself). */
export function keypairOwner(auth: Pick<AuthContext, 'userId' | 'isAdmin'>, version: string, userId: unknown, rule: string): string {
  if (!atLeast(version, '2.10') || userId === undefined) return auth.userId;
  const asked = String(userId);
  if (asked !== auth.userId && !auth.isAdmin) throw new ForbiddenError(`Policy doesn't allow ${rule} to be performed.`);
  return asked;
}

@Controller('compute/v2.1/os-keypairs')
export class KeypairsController {
  constructor(@Inject(KeypairsService) private readonly keypairs: KeypairsService) {}

  @Post()
  async create(@Body() body: unknown, @Auth() auth: AuthContext, @ComputeVersion() version: string, @Res({ passthrough: true }) res: Response): Promise<unknown> {
    const request = parseCreateKeypair(body, version);
    const userId = keypairOwner(auth, version, request.userId, 'os_compute_api:os-keypairs:create');
    const { keypair, privateKey } = await this.keypairs.create(request, { userId, projectId: auth.projectId });
    const view: Record<string, unknown> = { ...brief(keypair, version), user_id: keypair.userId };
    if (privateKey !== undefined) view.private_key = privateKey;
    res.status(atLeast(version, '2.2') ? 201 : 200);
    return { keypair: view };
  }

  @Get()
  async list(@Auth() auth: AuthContext, @ComputeVersion() version: string, @Query('user_id') userId?: string): Promise<unknown> {
    const owner = keypairOwner(auth, version, userId, 'os_compute_api:os-keypairs:index');
    return { keypairs: (await this.keypairs.list(owner)).map((k) => ({ keypair: brief(k, version) })) };
  }

  @Get(':name')
  async show(@Param('name') name: string, @Auth() auth: AuthContext, @ComputeVersion() version: string, @Query('user_id') userId?: string): Promise<unknown> {
    const k = await this.keypairs.get(keypairOwner(auth, version, userId, 'os_compute_api:os-keypairs:show'), name);
    return {
      keypair: {
        ...brief(k, version),
        user_id: k.userId,
        id: Number(k.id),
        created_at: novaTime(k.createdAt),
        updated_at: null,
        deleted: false,
        deleted_at: null,
      },
    };
  }

  @Delete(':name')
  async delete(
    @Param('name') name: string,
    @Auth() auth: AuthContext,
    @ComputeVersion() version: string,
    @Res({ passthrough: true }) res: Response,
    @Query('user_id') userId?: string,
  ): Promise<void> {
    await this.keypairs.delete(keypairOwner(auth, version, userId, 'os_compute_api:os-keypairs:delete'), name);
    res.status(atLeast(version, '2.2') ? 204 : 202);
  }
}
