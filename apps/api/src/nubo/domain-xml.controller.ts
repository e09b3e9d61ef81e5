/**
 * Servers as libvirt domain XML (/nubo/v1; OpenStack has no such call): export one for operators
 * and their libvirt tools, import one as a new server through Nova's create path.
 * The subset import reads, and what export fills with placeholders, is documented in domain-xml.ts.
 */
import { Controller, Get, HttpCode, Inject, Param, Post, Req, Res, UnsupportedMediaTypeException } from '@nestjs/common';
import { ImageOps, NotFoundError, subjects } from '@nubo/contracts';
import { RpcClient } from '@nubo/messaging';
import type { Request, Response } from 'express';
import { text } from 'express';
import { Auth, AuthContext, RequestId } from '../common/auth-context';
import { FlavorsService } from '../compute/flavors/flavors.service';
import { createdServerView } from '../compute/server-view';
import { ServersService } from '../compute/servers.service';
import { API_CONFIG, ApiConfig, publicUrl } from '../config';
import { DOMAIN_XML_MAX_BYTES, DomainXmlImage, domainXml, parseDomainXml, pickFlavor } from './domain-xml';

const XML_TYPE = /^(application|text)\/([\w.+-]+\+)?xml\s*(;|$)/i;

/** The raw XML: the api's body parser takes only JSON. Over the cap: 413, as body-parser answers. */
function readXml(req: Request, res: Response): Promise<string> {
  return new Promise((resolve, reject) => {
    text({ type: () => true, limit: DOMAIN_XML_MAX_BYTES, defaultCharset: 'utf-8' })(req, res, (error?: unknown) =>
      error ? reject(error) : resolve(typeof req.body === 'string' ? req.body : ''),
    );
  });
}

@Controller('nubo/v1')
export class DomainXmlController {
  constructor(
    @Inject(ServersService) private readonly servers: ServersService,
    @Inject(FlavorsService) private readonly flavors: FlavorsService,
    @Inject(RpcClient) private readonly rpc: RpcClient,
    @Inject(API_CONFIG) private readonly config: ApiConfig,
  ) {}

  @Get('servers/:id/domain.xml')
  async export(
    @Param('id') id: string,
    @Auth() auth: AuthContext,
    @RequestId() requestId: string,
    @Res({ passthrough: true }) res: Response,
  ): Promise<string> {
    const server = await this.servers.get(id, auth);
    let image: DomainXmlImage | null = null;
    if (server.imageRef) {
      // Asked as the server's project: the image it booted from may be private to it.
      image = await this.rpc
        .call(subjects.service('image', ImageOps.get.op), ImageOps.get, { imageId: server.imageRef, projectId: server.projectId, isAdmin: auth.isAdmin }, { requestId })
        .catch((error: unknown) => {
          if (error instanceof NotFoundError) return null;
          throw error;
        });
    }
    res.type('application/xml');
    return domainXml(server, image);
  }

  /** Nest's path syntax takes ':' as a parameter; the escaped colon is the literal `servers:import`. */
  @Post('servers\\:import')
  @HttpCode(202)
  async import(@Req() req: Request, @Res({ passthrough: true }) res: Response, @Auth() auth: AuthContext, @RequestId() requestId: string): Promise<unknown> {
    if (!XML_TYPE.test(req.header('content-type') ?? '')) {
      throw new UnsupportedMediaTypeException('The domain XML must be sent as application/xml.');
    }
    const wanted = parseDomainXml(await readXml(req, res));
    const flavors = await this.flavors.list(auth, { isPublic: true, sortKey: 'memory_mb', sortDir: 'ASC' });
    const flavor = pickFlavor(flavors, wanted);
    const request = this.servers.parseCreate({
      server: { name: wanted.name, flavorRef: flavor.id, ...(wanted.imageId ? { imageRef: wanted.imageId } : {}) },
    });
    const server = await this.servers.create(request, auth, requestId);
    return createdServerView(publicUrl(this.config), server.id);
  }
}
