/**
 * Nova's server tags API (microversion 2.26; 404 before): list, replace all, check one (204),
 * add one (201 with Location, 204 when already there), delete one, delete all. Owner or admin.
 */
import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Put, Res } from '@nestjs/common';
import { NotFoundError } from '@nubo/contracts';
import type { Response } from 'express';
import { DataSource } from 'typeorm';
import { Auth, AuthContext } from '../common/auth-context';
import { API_CONFIG, ApiConfig, publicUrl } from '../config';
import { ComputeVersion, requireVersion } from './microversion';
import { MAX_TAGS, checkTag, checkTaggable, parseTagList, tooMany } from './server-tags';
import { ServersService } from './servers.service';

const TAGS = '2.26';

@Controller('compute/v2.1/servers/:id/tags')
export class ServerTagsController {
  constructor(
    @Inject(DataSource) private readonly db: DataSource,
    @Inject(ServersService) private readonly servers: ServersService,
    @Inject(API_CONFIG) private readonly config: ApiConfig,
  ) {}

  @Get()
  async list(@Param('id') id: string, @Auth() auth: AuthContext, @ComputeVersion() version: string): Promise<unknown> {
    requireVersion(version, TAGS);
    return { tags: (await this.servers.get(id, auth)).tags };
  }

  @Put()
  async replace(@Param('id') id: string, @Body() body: unknown, @Auth() auth: AuthContext, @ComputeVersion() version: string): Promise<unknown> {
    requireVersion(version, TAGS);
    const server = await this.servers.get(id, auth);
    const tags = parseTagList(body);
    checkTaggable(server, 'update tags');
    await this.db.query(`UPDATE compute.servers SET tags = $2, updated_at = now() WHERE id = $1`, [server.id, tags]);
    return { tags };
  }

  @Delete()
  @HttpCode(204)
  async clear(@Param('id') id: string, @Auth() auth: AuthContext, @ComputeVersion() version: string): Promise<void> {
    requireVersion(version, TAGS);
    const server = await this.servers.get(id, auth);
    checkTaggable(server, 'delete tags');
    await this.db.query(`UPDATE compute.servers SET tags = '{}', updated_at = now() WHERE id = $1`, [server.id]);
  }

  @Get(':tag')
  @HttpCode(204)
  async check(@Param('id') id: string, @Param('tag') tag: string, @Auth() auth: AuthContext, @ComputeVersion() version: string): Promise<void> {
    requireVersion(version, TAGS);
    const server = await this.servers.get(id, auth);
    if (!server.tags.includes(tag)) throw new NotFoundError(`Instance ${server.id} has no tag '${tag}'`);
  }

  @Put(':tag')
  async add(
    @Param('id') id: string,
    @Param('tag') tag: string,
    @Auth() auth: AuthContext,
    @ComputeVersion() version: string,
    @Res({ passthrough: true }) res: Response,
  ): Promise<void> {
    requireVersion(version, TAGS);
    const server = await this.servers.get(id, auth);
    checkTag(tag);
    checkTaggable(server, 'update tag');
    // One statement: the set stays sorted and bounded however many requests race.
    const [added]: [unknown[], number] = await this.db.query(
      `UPDATE compute.servers SET tags = ARRAY(SELECT DISTINCT t FROM unnest(array_append(tags, $2::text)) t ORDER BY t), updated_at = now()
        WHERE id = $1 AND NOT ($2 = ANY(tags)) AND cardinality(tags) < $3 RETURNING true AS added`,
      [server.id, tag, MAX_TAGS],
    );
    if (added.length) {
      res.status(201).setHeader('location', `${publicUrl(this.config)}/compute/v2.1/servers/${server.id}/tags/${encodeURIComponent(tag)}`);
      return;
    }
    const now = await this.servers.get(id, auth);
    if (now.tags.includes(tag)) {
      res.status(204);
      return;
    }
    throw tooMany();
  }

  @Delete(':tag')
  @HttpCode(204)
  async remove(@Param('id') id: string, @Param('tag') tag: string, @Auth() auth: AuthContext, @ComputeVersion() version: string): Promise<void> {
    requireVersion(version, TAGS);
    const server = await this.servers.get(id, auth);
    checkTaggable(server, 'delete tag');
    const [, changed] = await this.db.query(`UPDATE compute.servers SET tags = array_remove(tags, $2), updated_at = now() WHERE id = $1 AND $2 = ANY(tags)`, [
      server.id,
      tag,
    ]);
    if (!changed) throw new NotFoundError(`Instance ${server.id} has no tag '${tag}'`);
  }
}
