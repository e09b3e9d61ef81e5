/** Nova os-keypairs at microversion 2.1 (create answers 200 and delete 202, as 2.1 does). */
import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post } from '@nestjs/common';
import { KeyPairEntity } from '@nubo/database';
import { Auth, AuthContext } from '../../common/auth-context';
import { novaTime } from '../shared/nova-time';
import { KeypairsService, parseCreateKeypair } from './keypairs.service';

const brief = (k: KeyPairEntity) => ({ name: k.name, public_key: k.publicKey, fingerprint: k.fingerprint });

@Controller('compute/v2.1/os-keypairs')
export class KeypairsController {
  constructor(@Inject(KeypairsService) private readonly keypairs: KeypairsService) {}

  @Post()
  @HttpCode(200)
  async create(@Body() body: unknown, @Auth() auth: AuthContext): Promise<unknown> {
    const request = parseCreateKeypair(body);
    const { keypair, privateKey } = await this.keypairs.create(request, { userId: auth.userId, projectId: auth.projectId });
    const view: Record<string, unknown> = { ...brief(keypair), user_id: keypair.userId };
    if (privateKey !== undefined) view.private_key = privateKey;
    return { keypair: view };
  }

  @Get()
  async list(@Auth() auth: AuthContext): Promise<unknown> {
    return { keypairs: (await this.keypairs.list(auth.userId)).map((k) => ({ keypair: brief(k) })) };
  }

  @Get(':name')
  async show(@Param('name') name: string, @Auth() auth: AuthContext): Promise<unknown> {
    const k = await this.keypairs.get(auth.userId, name);
    return {
      keypair: {
        ...brief(k),
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
  @HttpCode(202)
  async delete(@Param('name') name: string, @Auth() auth: AuthContext): Promise<void> {
    await this.keypairs.delete(auth.userId, name);
  }
}
