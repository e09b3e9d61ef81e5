import { ExecutionContext, SetMetadata, createParamDecorator } from '@nestjs/common';
import type { Request } from 'express';

/** Who is calling, from a validated token. */
export interface AuthContext {
  tokenAuditId: string;
  userId: string;
  userName: string;
  userDomainId: string;
  projectId: string;
  projectName: string;
  projectDomainId: string;
  roles: Array<{ id: string; name: string }>;
  isAdmin: boolean;
  issuedAt: Date;
  expiresAt: Date;
}

export type ApiRequest = Request & { requestId: string; auth?: AuthContext };

export const PUBLIC_ROUTE = 'nubo:public';
/** Marks a route that needs no token (version discovery, token issue). */
export const Public = () => SetMetadata(PUBLIC_ROUTE, true);

export const Auth = createParamDecorator((_data: unknown, ctx: ExecutionContext): AuthContext => {
  return ctx.switchToHttp().getRequest<ApiRequest>().auth!;
});

export const RequestId = createParamDecorator((_data: unknown, ctx: ExecutionContext): string => {
  return ctx.switchToHttp().getRequest<ApiRequest>().requestId;
});
