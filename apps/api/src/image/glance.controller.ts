/**
 * Glance v2 (images): metadata calls go to the image store over NATS; image data is streamed to
 * and from its HTTP server (image-data.proxy.ts); members in glance-members.controller.ts. Not
 * implemented: tags sub-resources, import/stage, tasks, deactivate/reactivate, schemas.
 */
import { Body, Controller, Delete, Get, Headers, HttpCode, HttpException, Inject, Param, Patch, Post, Put, Query, Req, Res } from '@nestjs/common';
import { ImageCaller, ImageOps, subjects } from '@nubo/contracts';
import { RpcClient } from '@nubo/messaging';
import type { Request, Response } from 'express';
import { Auth, AuthContext, Public, RequestId } from '../common/auth-context';
import { API_CONFIG, ApiConfig, publicUrl } from '../config';
import { imageView, listView, plainQuery } from './glance-view';
import { ImageDataProxy } from './image-data.proxy';

const JSON_PATCH = /^application\/openstack-images-v2\.1-json-patch\s*(;|$)/i;
const OCTET_STREAM = /^application\/octet-stream\s*(;|$)/i;
const caller = (auth: AuthContext): ImageCaller => ({ projectId: auth.projectId, isAdmin: auth.isAdmin });
const unsupportedMediaType = (message: string) => new HttpException({ message }, 415);

@Controller('image')
export class GlanceController {
  constructor(
    @Inject(RpcClient) private readonly rpc: RpcClient,
    @Inject(ImageDataProxy) private readonly data: ImageDataProxy,
    @Inject(API_CONFIG) private readonly config: ApiConfig,
  ) {}

  private versions() {
    return { versions: [{ id: 'v2.9', status: 'CURRENT', links: [{ rel: 'self', href: `${publicUrl(this.config)}/image/v2/` }] }] };
  }

  /** Glance answers its root with 300 Multiple Choices. */
  @Public()
  @Get()
  @HttpCode(300)
  root(): unknown {
    return this.versions();
  }

  @Public()
  @Get('versions')
  versionList(): unknown {
    return this.versions();
  }

  @Get('v2/images')
  async list(@Auth() auth: AuthContext, @Query() query: Record<string, unknown>, @RequestId() requestId: string): Promise<unknown> {
    const q = plainQuery(query);
    const reply = await this.rpc.call(subjects.service('image', ImageOps.list.op), ImageOps.list, { ...caller(auth), query: q }, { requestId });
    return listView(reply.images, q, reply.nextMarker);
  }

  @Post('v2/images')
  @HttpCode(201)
  async create(@Body() body: unknown, @Auth() auth: AuthContext, @RequestId() requestId: string, @Res({ passthrough: true }) res: Response): Promise<unknown> {
    const image = await this.rpc.call(subjects.service('image', ImageOps.create.op), ImageOps.create, { caller: caller(auth), body }, { requestId });
    res.setHeader('location', `${publicUrl(this.config)}/image/v2/images/${image.id}`);
    return imageView(image);
  }

  @Get('v2/images/:id')
  async show(@Param('id') id: string, @Auth() auth: AuthContext, @RequestId() requestId: string): Promise<unknown> {
    // As in Glance, a member sees what it was offered whatever its member status (to accept it).
    const request = { imageId: id, ...caller(auth), anyMemberStatus: true };
    const image = await this.rpc.call(subjects.service('image', ImageOps.get.op), ImageOps.get, request, { requestId });
    return imageView(image);
  }

  @Patch('v2/images/:id')
  async update(
    @Param('id') id: string,
    @Body() patch: unknown,
    @Headers('content-type') contentType: string | undefined,
    @Auth() auth: AuthContext,
    @RequestId() requestId: string,
  ): Promise<unknown> {
    if (!JSON_PATCH.test(contentType ?? '')) {
      throw unsupportedMediaType(`Content-Type must be application/openstack-images-v2.1-json-patch, not ${contentType ?? 'none'}`);
    }
    const image = await this.rpc.call(subjects.service('image', ImageOps.update.op), ImageOps.update, { caller: caller(auth), imageId: id, patch }, { requestId });
    return imageView(image);
  }

  @Delete('v2/images/:id')
  @HttpCode(204)
  async delete(@Param('id') id: string, @Auth() auth: AuthContext, @RequestId() requestId: string): Promise<void> {
    await this.rpc.call(subjects.service('image', ImageOps.delete.op), ImageOps.delete, { caller: caller(auth), imageId: id }, { requestId });
  }

  @Put('v2/images/:id/file')
  async upload(@Param('id') id: string, @Req() req: Request, @Res() res: Response, @Auth() auth: AuthContext, @RequestId() requestId: string): Promise<void> {
    if (!OCTET_STREAM.test(req.headers['content-type'] ?? '')) {
      throw unsupportedMediaType('Content-Type must be application/octet-stream');
    }
    await this.data.upload(req, id, caller(auth), requestId);
    res.status(204).end();
  }

  @Get('v2/images/:id/file')
  async download(@Param('id') id: string, @Req() req: Request, @Res() res: Response, @Auth() auth: AuthContext, @RequestId() requestId: string): Promise<void> {
    await this.data.download(req, res, id, caller(auth), requestId);
  }
}
