/** Nova flavors, read side (admin create/delete and extra specs come with the tenant API issue). */
import { Controller, Get, Inject, Param } from '@nestjs/common';
import { NotFoundError } from '@nubo/contracts';
import { FlavorEntity } from '@nubo/database';
import { DataSource } from 'typeorm';
import { API_CONFIG, ApiConfig, publicUrl } from '../config';

@Controller('compute/v2.1/flavors')
export class FlavorsController {
  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(API_CONFIG) private readonly config: ApiConfig,
  ) {}

  @Get()
  async list(): Promise<unknown> {
    const flavors = await this.all();
    return { flavors: flavors.map((f) => ({ id: f.id, name: f.name, description: null, links: this.links(f.id) })) };
  }

  @Get('detail')
  async detail(): Promise<unknown> {
    return { flavors: (await this.all()).map((f) => this.view(f)) };
  }

  @Get(':id')
  async show(@Param('id') id: string): Promise<unknown> {
    const flavor = await this.db.getRepository(FlavorEntity).findOneBy({ id });
    if (!flavor) throw new NotFoundError(`Flavor ${id} could not be found.`);
    return { flavor: this.view(flavor) };
  }

  private all(): Promise<FlavorEntity[]> {
    return this.db.getRepository(FlavorEntity).find({ order: { ramMb: 'ASC', id: 'ASC' } });
  }

  private links(id: string) {
    const base = publicUrl(this.config);
    return [
      { rel: 'self', href: `${base}/compute/v2.1/flavors/${id}` },
      { rel: 'bookmark', href: `${base}/compute/flavors/${id}` },
    ];
  }

  private view(f: FlavorEntity) {
    return {
      id: f.id,
      name: f.name,
      ram: f.ramMb,
      disk: f.diskGb,
      vcpus: f.vcpus,
      swap: f.swapMb || '',
      'OS-FLV-EXT-DATA:ephemeral': f.ephemeralGb,
      'OS-FLV-DISABLED:disabled': false,
      'os-flavor-access:is_public': f.isPublic,
      rxtx_factor: 1.0,
      description: f.description || null,
      links: this.links(f.id),
    };
  }
}
