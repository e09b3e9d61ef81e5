import { Initial1732550000000 } from './1732550000000-initial';
import { ServerActions1732550002000 } from './1732550002000-server-actions';
import { TenantResources1732550001000 } from './1732550001000-tenant-resources';
import { Images1732550003000 } from './1732550003000-images';
import { ServerKeyName1732550004000 } from './1732550004000-server-key-name';
import { ImageMembers1732550005000 } from './1732550005000-image-members';

/** Every migration, in order. Applied by `npm run db:migrate` (deploy scripts run it before services). */
export const migrations = [Initial1732550000000, ServerActions1732550002000, Images1732550003000, TenantResources1732550001000, ServerKeyName1732550004000, ImageMembers1732550005000];
