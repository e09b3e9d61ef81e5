import { Initial1732550000000 } from './1732550000000-initial';
import { ServerActions1732550002000 } from './1732550002000-server-actions';

/** Every migration, in order. Applied by `npm run db:migrate` (deploy scripts run it before services). */
export const migrations = [Initial1732550000000, ServerActions1732550002000];
