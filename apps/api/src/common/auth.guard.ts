/** Every route needs a valid X-Auth-Token unless marked @Public(). */
import { CanActivate, ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuthenticationError } from '@nubo/contracts';
import { TokenService } from '../identity/token.service';
import { ApiRequest, PUBLIC_ROUTE } from './auth-context';

@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    @Inject(Reflector) private readonly reflector: Reflector,
    @Inject(TokenService) private readonly tokens: TokenService,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_ROUTE, [context.getHandler(), context.getClass()])) return true;
    const req = context.switchToHttp().getRequest<ApiRequest>();
    const token = req.header('x-auth-token');
    if (!token) throw new AuthenticationError();
    req.auth = await this.tokens.validate(token);
    return true;
  }
}
