/** Nova's security groups of servers, for the api module to register. */
import { OsSecurityGroupsController, ServerOsSecurityGroupsController } from './os-security-groups.controller';
import { ServerSecurityGroupsService } from './server-security-groups.service';

export const SECURITY_GROUP_CONTROLLERS = [OsSecurityGroupsController, ServerOsSecurityGroupsController];
export const SECURITY_GROUP_PROVIDERS = [ServerSecurityGroupsService];
export { ServerSecurityGroupsService };
