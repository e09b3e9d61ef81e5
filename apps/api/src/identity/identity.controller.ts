/** Keystone v3 subset: version discovery, password tokens (issue, validate, revoke) and the catalog. */
import { Body, Controller, Delete, Get, Head, HttpCode, Inject, Post, Req, Res } from '@nestjs/common';
import { ValidationError } from '@nubo/contracts';
import type { Response } from 'express';
import { ApiRequest, Auth, AuthContext, Public } from '../common/auth-context';
import { API_CONFIG, ApiConfig, publicUrl } from '../config';
import { buildCatalog } from './catalog';
import { TokenContext, TokenService } from './token.service';

/** Keystone prints times with microseconds: 2015-11-09T01:42:57.000000Z. */
const keystoneTime = (d: Date) => d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

@Controller('identity')
export class IdentityController {
  constructor(
    @Inject(TokenService) private readonly tokens: TokenService,
    @Inject(API_CONFIG) private readonly config: ApiConfig,
  ) {}

  @Public()
  @Get()
  versions(@Res() res: Response): void {
    res.status(300).json({ versions: { values: [this.version()] } });
  }

  @Public()
  @Get('v3')
  v3(): unknown {
    return { version: this.version() };
  }

  @Public()
  @Post('v3/auth/tokens')
  @HttpCode(201)
  async issue(@Body() body: unknown, @Res({ passthrough: true }) res: Response): Promise<unknown> {
    const { token, auth } = await this.tokens.issue(body);
    res.setHeader('X-Subject-Token', token);
    return this.tokenBody(auth);
  }

  @Get('v3/auth/tokens')
  async validate(@Req() req: ApiRequest, @Res({ passthrough: true }) res: Response): Promise<unknown> {
    const subject = this.subjectToken(req);
    const auth = await this.tokens.inspect(subject);
    res.setHeader('X-Subject-Token', subject);
    return this.tokenBody(auth);
  }

  @Head('v3/auth/tokens')
  @HttpCode(200)
  async check(@Req() req: ApiRequest): Promise<void> {
    await this.tokens.inspect(this.subjectToken(req));
  }

  /** The catalog of the caller's token, as in its token body. */
  @Get('v3/auth/catalog')
  catalog(@Req() req: ApiRequest, @Auth() _auth: AuthContext): unknown {
    const base = publicUrl(this.config);
    return { catalog: buildCatalog(base, this.config.NUBO_REGION), links: { self: base + req.originalUrl, previous: null, next: null } };
  }

  @Delete('v3/auth/tokens')
  @HttpCode(204)
  async revoke(@Req() req: ApiRequest, @Auth() _auth: AuthContext): Promise<void> {
    await this.tokens.revoke(this.subjectToken(req));
  }

  private subjectToken(req: ApiRequest): string {
    const subject = req.header('x-subject-token');
    if (!subject) throw new ValidationError('X-Subject-Token header is required', 'X-Subject-Token');
    return subject;
  }

  private version() {
    return {
      id: 'v3.14',
      status: 'stable',
      updated: '2020-04-07T00:00:00Z',
      links: [{ rel: 'self', href: `${publicUrl(this.config)}/identity/v3/` }],
      'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.identity-v3+json' }],
    };
  }

  private tokenBody(auth: TokenContext) {
    return {
      token: {
        methods: ['password'],
        user: { id: auth.userId, name: auth.userName, domain: { id: auth.userDomainId, name: auth.userDomainName }, password_expires_at: null },
        audit_ids: [auth.tokenAuditId],
        issued_at: keystoneTime(auth.issuedAt),
        expires_at: keystoneTime(auth.expiresAt),
        project: { id: auth.projectId, name: auth.projectName, domain: { id: auth.projectDomainId, name: auth.projectDomainName } },
        is_domain: false,
        roles: auth.roles,
        catalog: buildCatalog(publicUrl(this.config), this.config.NUBO_REGION),
      },
    };
  }
}
